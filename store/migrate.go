package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/graphsync/graphsync/migrations"
)

// migrateLockID is the advisory lock key serialising migrations across
// processes (an arbitrary constant: "graphsyn" in ASCII).
const migrateLockID int64 = 0x67726170_6873796e

// Migration is one numbered SQL file.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations lists the embedded migrations in order.
func Migrations() ([]Migration, error) {
	return loadMigrations(migrations.FS)
}

func loadMigrations(fsys fs.FS) ([]Migration, error) {
	names, err := fs.Glob(fsys, "*.up.sql")
	if err != nil {
		return nil, err
	}
	var out []Migration
	seen := map[int]string{}
	for _, name := range names {
		num, rest, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a number and an underscore", name)
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", prev, name, v)
		}
		seen[v] = name
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		out = append(out, Migration{Version: v, Name: strings.TrimSuffix(rest, ".up.sql"), SQL: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// MigrateResult says what Migrate applied.
type MigrateResult struct {
	Applied      []string // graphsync migrations applied by this call
	RiverApplied []int    // River schema versions applied by this call
}

// Migrate brings graphsync's and River's schemas up to date. Concurrent
// callers in any number of processes are serialised by an advisory lock; a
// second run applies nothing. Each migration runs in its own transaction, so
// one that fails leaves the schema as it was and the error names the file and
// the failing statement.
func (s *Store) Migrate(ctx context.Context, log *slog.Logger) (*MigrateResult, error) {
	pool := s.pool
	all, err := Migrations()
	if err != nil {
		return nil, err
	}
	return migrate(ctx, pool, all, log)
}

func migrate(ctx context.Context, pool *pgxpool.Pool, all []Migration, log *slog.Logger) (*MigrateResult, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrateLockID); err != nil {
		return nil, fmt.Errorf("migrate: take advisory lock: %w", err)
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrateLockID)
	}()

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS graphsync_migrations (
		version integer PRIMARY KEY,
		name text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return nil, fmt.Errorf("migrate: create graphsync_migrations: %w", err)
	}
	applied := map[int]bool{}
	rows, err := conn.Query(ctx, "SELECT version FROM graphsync_migrations")
	if err != nil {
		return nil, fmt.Errorf("migrate: read graphsync_migrations: %w", err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
		applied[v] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("migrate: read graphsync_migrations: %w", err)
	}

	res := &MigrateResult{}
	// River first: graphsync's tables do not depend on River's, and the
	// workers need both before they start.
	migrator, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return nil, fmt.Errorf("migrate river: %w", err)
	}
	rres, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return nil, fmt.Errorf("migrate river: %w", err)
	}
	for _, v := range rres.Versions {
		res.RiverApplied = append(res.RiverApplied, v.Version)
	}

	for _, m := range all {
		if applied[m.Version] {
			continue
		}
		file := fmt.Sprintf("%03d_%s.up.sql", m.Version, m.Name)
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			for _, stmt := range splitStatements(m.SQL) {
				if _, err := tx.Exec(ctx, stmt); err != nil {
					return fmt.Errorf("statement %q: %w", abbreviate(stmt, 200), err)
				}
			}
			_, err := tx.Exec(ctx, "INSERT INTO graphsync_migrations (version, name) VALUES ($1, $2)", m.Version, m.Name)
			return err
		})
		if err != nil {
			return res, fmt.Errorf("migrate: %s: %w", file, err)
		}
		log.InfoContext(ctx, "applied migration", "file", file)
		res.Applied = append(res.Applied, file)
	}
	return res, nil
}

// Pending lists migrations not yet applied; readiness checks use it.
func (s *Store) Pending(ctx context.Context) ([]string, error) {
	pool := s.pool
	all, err := Migrations()
	if err != nil {
		return nil, err
	}
	applied := map[int]bool{}
	rows, err := pool.Query(ctx, "SELECT version FROM graphsync_migrations")
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P01" {
			applied = nil
		} else {
			return nil, fmt.Errorf("read graphsync_migrations: %w", err)
		}
	} else {
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				return nil, err
			}
			applied[v] = true
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	var pending []string
	for _, m := range all {
		if !applied[m.Version] {
			pending = append(pending, fmt.Sprintf("%03d_%s", m.Version, m.Name))
		}
	}
	return pending, nil
}

// splitStatements splits a migration into statements at semicolons that end
// a line, outside dollar-quoted bodies, so an error can name its statement.
func splitStatements(sql string) []string {
	var out []string
	var cur strings.Builder
	inDollar := false
	for _, line := range strings.SplitAfter(sql, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.Count(line, "$$")%2 == 1 {
			inDollar = !inDollar
		}
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "--")) {
			continue
		}
		cur.WriteString(line)
		if !inDollar && strings.HasSuffix(trimmed, ";") {
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

func abbreviate(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
