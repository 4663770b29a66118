package store_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/pgtest"
	"github.com/graphsync/graphsync/store"
)

func TestMigrateIdempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := store.New(pgtest.Pool(t, pgtest.NewDatabase(t)), nil)

	first, err := s.Migrate(ctx, nil)
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
	second, err := s.Migrate(ctx, nil)
	if err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	if len(second.Applied) != 0 || len(second.RiverApplied) != 0 {
		t.Fatalf("second run applied %v / river %v, want nothing", second.Applied, second.RiverApplied)
	}
	pending, err := s.Pending(ctx)
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
			results[i], errs[i] = store.New(pool, nil).Migrate(ctx, nil)
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

// Migration 010 gives every stream its user. An application connection's
// streams, named "<user>/<container>" until then, keep their checkpoints
// under their user and container; a delegated connection's streams get the
// connection's user and keep their names, slashes included.
func TestMigrateStreamUser(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t, pgtest.NewDatabase(t))
	all, err := store.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	var upTo9 []store.Migration
	for _, m := range all {
		if m.Version <= 9 {
			upTo9 = append(upTo9, m)
		}
	}
	if len(upTo9) != 9 {
		t.Fatalf("%d migrations up to 009, want 9", len(upTo9))
	}
	if _, err := store.MigrateWith(ctx, pool, upTo9); err != nil {
		t.Fatal(err)
	}
	var delegated, application int64
	if err := pool.QueryRow(ctx, `INSERT INTO connections (kind, tenant_id, user_id) VALUES ('delegated', 'tenant-1', 'd1')
		RETURNING id`).Scan(&delegated); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `INSERT INTO connections (kind, tenant_id) VALUES ('application', 'tenant-1')
		RETURNING id`).Scan(&application); err != nil {
		t.Fatal(err)
	}
	// Checkpoints as 009 named them, and the stream each must become.
	old := []struct {
		conn           int64
		resource, name string
		want           graphsync.Stream
	}{
		{delegated, "mail", "", graphsync.Stream{User: "d1", Resource: graphsync.Mail}},
		{delegated, "mail", "inbox", graphsync.Stream{User: "d1", Resource: graphsync.Mail, Container: "inbox"}},
		{delegated, "drive", "drives/b!x", graphsync.Stream{User: "d1", Resource: graphsync.Drive, Container: "drives/b!x"}},
		{application, "users", "", graphsync.Stream{Resource: graphsync.Users}},
		{application, "mail", "u1/", graphsync.Stream{User: "u1", Resource: graphsync.Mail}},
		{application, "mail", "u1/inbox", graphsync.Stream{User: "u1", Resource: graphsync.Mail, Container: "inbox"}},
		{application, "mail", "u2/inbox", graphsync.Stream{User: "u2", Resource: graphsync.Mail, Container: "inbox"}},
		{application, "drive", "u2/drives/b!x", graphsync.Stream{User: "u2", Resource: graphsync.Drive, Container: "drives/b!x"}},
		{application, "chats", "u1/19:abc@thread.v2", graphsync.Stream{User: "u1", Resource: graphsync.Chats, Container: "19:abc@thread.v2"}},
	}
	for i, o := range old {
		if _, err := pool.Exec(ctx, `INSERT INTO sync_state (connection_id, resource, stream, delta_link, next_link, watermark, pages)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, o.conn, o.resource, o.name, fmt.Sprintf("https://graph.test/delta/%d", i),
			fmt.Sprintf("https://graph.test/next/%d", i), fmt.Sprint("w", i), i+1); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, `INSERT INTO quarantine (connection_id, resource, stream, item_id, error)
		VALUES ($1, 'mail', 'u1/inbox', 'm1', 'bad'), ($2, 'mail', 'inbox', 'm2', 'bad')`, application, delegated); err != nil {
		t.Fatal(err)
	}

	s := store.New(pool, nil)
	res, err := s.Migrate(ctx, nil)
	if err != nil || len(res.Applied) == 0 || res.Applied[0] != "010_stream_user.up.sql" {
		t.Fatalf("migrate from 009: %v (%v), want 010_stream_user.up.sql applied first", res, err)
	}
	states, err := s.SyncStates(ctx, 0)
	if err != nil || len(states) != len(old) {
		t.Fatalf("%d streams after the migration (%v), want %d", len(states), err, len(old))
	}
	for i, o := range old {
		o.want.Connection = o.conn
		st, err := s.SyncState(ctx, o.want)
		if err != nil {
			t.Fatal(err)
		}
		if st.DeltaLink != fmt.Sprintf("https://graph.test/delta/%d", i) || st.NextLink != fmt.Sprintf("https://graph.test/next/%d", i) ||
			st.Watermark != fmt.Sprint("w", i) || st.Pages != int64(i+1) {
			t.Errorf("stream %q became %s with delta %q, next %q, watermark %q, pages %d: not its checkpoint",
				o.name, o.want, st.DeltaLink, st.NextLink, st.Watermark, st.Pages)
		}
	}
	q, err := s.QuarantinedRecords(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, r := range q {
		got[fmt.Sprintf("%d/%s/%s/%s/%s", r.ConnectionID, r.User, r.Resource, r.Stream, r.ItemID)] = true
	}
	for _, want := range []string{fmt.Sprintf("%d/u1/mail/inbox/m1", application), fmt.Sprintf("%d/d1/mail/inbox/m2", delegated)} {
		if !got[want] {
			t.Errorf("quarantine after the migration: %v, want %s", got, want)
		}
	}
}
