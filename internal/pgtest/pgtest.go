// Package pgtest gives each test its own migrated PostgreSQL database, on the
// server named by TEST_DATABASE_URL or DATABASE_URL, or on a throwaway cluster
// started for the test binary when neither answers.
//
// A package using it calls Main from TestMain so that a throwaway cluster is
// stopped when its tests end.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/graphsync/graphsync/internal/pglocal"
	"github.com/graphsync/graphsync/store"
)

var (
	once     sync.Once
	cluster  *pglocal.Cluster
	startErr error

	templateOnce sync.Once
	templateName string
	templateErr  error
)

// Main runs the tests and stops a throwaway cluster afterwards.
func Main(m *testing.M) {
	code := m.Run()
	if cluster != nil {
		_ = cluster.Stop()
	}
	os.Exit(code)
}

// Server returns the URL of the test server's postgres database, for tests
// of code that creates databases of its own (the demo).
func Server(t testing.TB) string {
	t.Helper()
	return server(t)
}

func server(t testing.TB) string {
	t.Helper()
	url, err := serverURL()
	if err != nil {
		t.Fatal(err)
	}
	return url
}

func serverURL() (string, error) {
	once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cluster, startErr = pglocal.FromEnv(ctx, pglocal.Options{}, "TEST_DATABASE_URL", "DATABASE_URL")
	})
	if startErr != nil {
		return "", fmt.Errorf("pgtest: no PostgreSQL: %w", startErr)
	}
	return cluster.URL, nil
}

// ServerURL is the URL of the server's maintenance database.
func ServerURL(t testing.TB) string { return server(t) }

// template returns a database holding every migration, created once per
// migration set and reused: copying it is much faster than migrating.
func template(t testing.TB, base string) string {
	name, err := templateDB(base)
	if err != nil {
		t.Fatal(err)
	}
	return name
}

func templateDB(base string) (string, error) {
	templateOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		all, err := store.Migrations()
		if err != nil {
			templateErr = err
			return
		}
		h := sha256.New()
		for _, m := range all {
			fmt.Fprintf(h, "%d %s %s\n", m.Version, m.Name, m.SQL)
		}
		templateName = "graphsync_tmpl_" + hex.EncodeToString(h.Sum(nil))[:12]

		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			templateErr = err
			return
		}
		defer conn.Close(context.Background())
		// Serialise template creation across test binaries running at once.
		if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(7420117)"); err != nil {
			templateErr = err
			return
		}
		defer conn.Exec(context.Background(), "SELECT pg_advisory_unlock(7420117)")
		var ready bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate)", templateName).Scan(&ready); err != nil {
			templateErr = err
			return
		}
		if ready {
			return
		}
		building := templateName + "_build"
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+building+" WITH (FORCE)")
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+building+" TEMPLATE template0"); err != nil {
			templateErr = err
			return
		}
		pool, err := pgxpool.New(ctx, withDatabase(base, building))
		if err != nil {
			templateErr = err
			return
		}
		_, err = store.New(pool, nil).Migrate(ctx, nil)
		pool.Close()
		if err != nil {
			templateErr = err
			return
		}
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+templateName)
		if _, err := conn.Exec(ctx, "ALTER DATABASE "+building+" RENAME TO "+templateName); err != nil {
			templateErr = err
			return
		}
		_, templateErr = conn.Exec(ctx, "ALTER DATABASE "+templateName+" WITH is_template true")
	})
	if templateErr != nil {
		return "", fmt.Errorf("pgtest: build template database: %w", templateErr)
	}
	return templateName, nil
}

// NewDatabase creates an empty database (no migrations) and returns its URL;
// it is dropped when the test ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	return create(t, "template0")
}

// NewMigrated creates a database with every migration applied and returns
// its URL; it is dropped when the test ends.
func NewMigrated(t testing.TB) string {
	t.Helper()
	base := server(t)
	return create(t, template(t, base))
}

func create(t testing.TB, from string) string {
	t.Helper()
	url, drop, err := createDB(from)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := drop(); err != nil {
			t.Log(err)
		}
	})
	return url
}

// createDB creates a database from template from and returns its URL and
// how to drop it.
func createDB(from string) (string, func() error, error) {
	base, err := serverURL()
	if err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "graphsync_test_" + hex.EncodeToString(b)
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", nil, fmt.Errorf("pgtest: connect: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE "+from); err != nil {
		return "", nil, fmt.Errorf("pgtest: create database: %w", err)
	}
	drop := func() error {
		if err := pglocal.DropDatabase(context.Background(), base, name); err != nil {
			return fmt.Errorf("pgtest: %w", err)
		}
		return nil
	}
	return withDatabase(base, name), drop, nil
}

// Migrated creates a migrated database for code without a testing.TB
// (examples) and returns its URL and how to drop it.
func Migrated() (string, func() error, error) {
	base, err := serverURL()
	if err != nil {
		return "", nil, err
	}
	tmpl, err := templateDB(base)
	if err != nil {
		return "", nil, err
	}
	return createDB(tmpl)
}

// Pool opens a pool on url closed when the test ends.
func Pool(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatalf("pgtest: open pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// Keyring is a fresh random keyring.
func Keyring(t testing.TB) *store.Keyring {
	t.Helper()
	k, err := store.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	kr, err := store.ParseKeyring(k)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// Store opens a store on a new migrated database with a fresh keyring.
func Store(t testing.TB) *store.Store {
	t.Helper()
	return store.New(Pool(t, NewMigrated(t)), Keyring(t))
}

func withDatabase(conn, db string) string { return pglocal.WithDatabase(conn, db) }

// Outage makes the database at url refuse every connection, and closes the
// open ones, for d: what a restart or a failover looks like to a client.
// It returns when the database accepts connections again.
func Outage(t testing.TB, url string, d time.Duration) {
	t.Helper()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	name := pgx.Identifier{cfg.Database}.Sanitize()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, server(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+name+" WITH ALLOW_CONNECTIONS false"); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if _, err := admin.Exec(ctx, "ALTER DATABASE "+name+" WITH ALLOW_CONNECTIONS true"); err != nil {
			t.Fatal(err)
		}
	}()
	if _, err := admin.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", cfg.Database); err != nil {
		t.Fatal(err)
	}
	time.Sleep(d)
}
