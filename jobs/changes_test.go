package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/verify"
)

// The change feed reproduces the synced tables: synced, changed in
// Microsoft 365 (new, changed, moved and deleted items of every resource),
// synced again, a user removed from the tenant; the changes read from the
// feed, applied to empty copies, equal every table, live rows and
// deletions alike; and the connection's deletion empties them all.
func TestChangeFeedReplaysEveryResource(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, options{emu: emulator.Config{Users: 3, MessagesPerUser: 80}, application: true,
		resources: graphsync.Names(graphsync.Enableable()), sites: selectedSites})
	replay := func(when string) verify.Replayed {
		t.Helper()
		r, err := verify.Replay(ctx, b.store.Pool())
		if err != nil {
			t.Fatal(err)
		}
		if !r.Equal() {
			t.Fatalf("%s: the tables rebuilt from the feed's %d changes differ: %v", when, r.Changes, r.Diffs())
		}
		return r
	}
	b.syncNow(t, 2*time.Minute)
	replay("after the initial sync")

	b.em.Mutate(150)
	b.elapse(editCheck)
	b.syncNow(t, 2*time.Minute)
	if !b.em.RemoveUser(b.em.Users()[0].ID) {
		t.Fatal("emulator did not remove the user")
	}
	b.syncNow(t, 2*time.Minute)
	b.syncNow(t, 2*time.Minute)
	r := replay("after changes and a user's removal")
	for _, tr := range r.Tables {
		if tr.Rows == 0 || tr.Changes == 0 {
			t.Errorf("%s: %d rows, %d changes: the comparison proves nothing for it", tr.Table, tr.Rows, tr.Changes)
		}
	}
	if len(r.Tables) != len(graphsync.Tables()) {
		t.Fatalf("replayed %d tables, graphsync writes %d", len(r.Tables), len(graphsync.Tables()))
	}
	for _, op := range []graphsync.Op{graphsync.Created, graphsync.Updated, graphsync.Deleted} {
		if n := b.count(t, "SELECT count(*) FROM changes WHERE op = $1 AND table_name <> 'connections'", string(op)); n == 0 {
			t.Errorf("no %s change: the mutations did not exercise it", op)
		}
	}

	if err := b.store.DeleteConnection(ctx, b.conns[0].ID); err != nil {
		t.Fatal(err)
	}
	r = replay("after the connection's deletion")
	for _, tr := range r.Tables {
		if tr.Rows != 0 {
			t.Errorf("%s keeps %d rows of the deleted connection", tr.Table, tr.Rows)
		}
	}
	if n := b.count(t, "SELECT count(*) FROM changes WHERE table_name = 'connections' AND op = 'deleted'"); n != 1 {
		t.Fatalf("%d connection deletions in the feed, want 1", n)
	}
}
