package store_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/graphsync/graphsync/internal/pgtest"
	"github.com/graphsync/graphsync/store"
)

func TestMigrateIdempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t, pgtest.NewDatabase(t))

	first, err := store.Migrate(ctx, pool, nil)
	if err != nil {
		t.Fatalf("first migrate: %v", err)
	}
	all, _ := store.Migrations()
	if len(first.Applied) != len(all) {
		t.Fatalf("first run applied %d migrations, want %d", len(first.Applied), len(all))
	}
	if len(first.RiverApplied) == 0 {
		t.Fatal("first run applied no River migrations")
	}
	second, err := store.Migrate(ctx, pool, nil)
	if err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	if len(second.Applied) != 0 || len(second.RiverApplied) != 0 {
		t.Fatalf("second run applied %v / river %v, want nothing", second.Applied, second.RiverApplied)
	}
	pending, err := store.Pending(ctx, pool)
	if err != nil || len(pending) != 0 {
		t.Fatalf("pending after migrate = %v, %v", pending, err)
	}
}

func TestMigrateConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)

	const n = 4
	var wg sync.WaitGroup
	results := make([]*store.MigrateResult, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Separate pools stand for separate worker processes.
			pool := pgtest.Pool(t, url)
			results[i], errs[i] = store.Migrate(ctx, pool, nil)
		}()
	}
	wg.Wait()
	total := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("migrator %d: %v", i, errs[i])
		}
		total += len(results[i].Applied)
	}
	all, _ := store.Migrations()
	if total != len(all) {
		t.Fatalf("migrations applied %d times in total, want exactly %d", total, len(all))
	}
	pool := pgtest.Pool(t, url)
	var count int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM graphsync_migrations").Scan(&count); err != nil {
		t.Fatal(err)
	}
	if count != len(all) {
		t.Fatalf("graphsync_migrations has %d rows, want %d", count, len(all))
	}
}

func TestMigrateFailureRollsBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t, pgtest.NewDatabase(t))
	bad := []store.Migration{
		{Version: 1, Name: "good", SQL: "CREATE TABLE a (x int);"},
		{Version: 2, Name: "bad", SQL: "CREATE TABLE b (x int);\nCREATE TABLE c (x nosuchtype);\n"},
	}
	_, err := store.MigrateWith(ctx, pool, bad)
	if err == nil {
		t.Fatal("migration with a bad statement succeeded")
	}
	for _, want := range []string{"002_bad.up.sql", "CREATE TABLE c (x nosuchtype)", "nosuchtype"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	var hasA, hasB bool
	_ = pool.QueryRow(ctx, "SELECT to_regclass('a') IS NOT NULL, to_regclass('b') IS NOT NULL").Scan(&hasA, &hasB)
	if !hasA || hasB {
		t.Fatalf("after failure: table a exists=%t (want true), b exists=%t (want false: its migration rolled back)", hasA, hasB)
	}
}
