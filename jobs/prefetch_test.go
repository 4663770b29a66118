package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/worker"
	"github.com/graphsync/graphsync/syncer"
)

// TestFailedCommitDropsPrefetchedPage fails the third page's transaction of
// every message folder at COMMIT, while the page after it is being fetched:
// that page is dropped (nothing of it is stored, the checkpoint stays at the
// failed page), and the next sync resumes there and ends equal to the
// ground truth.
func TestFailedCommitDropsPrefetchedPage(t *testing.T) {
	t.Parallel()
	b := setup(t, options{
		emu:       emulator.Config{Users: 1, MessagesPerUser: 600},
		worker:    func(c *worker.Config) { c.Graph.MaxPageSize = 10 },
		noWorkers: true,
	})
	ctx := context.Background()
	pool := b.store.Pool()
	// A deferred constraint trigger fails the transaction at COMMIT, after
	// the page's rows and checkpoint were written in it.
	for _, sql := range []string{
		`CREATE FUNCTION fail_third_page() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.resource = 'mail' AND NEW.stream NOT IN ('', 'folders') AND NEW.pages >= 3 THEN
				RAISE EXCEPTION 'commit refused for the test';
			END IF;
			RETURN NULL;
		END $$`,
		`CREATE CONSTRAINT TRIGGER fail_third_page AFTER INSERT OR UPDATE ON sync_state
			DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fail_third_page()`,
	} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	conn := b.conns[0]
	req := func() syncer.Request {
		return syncer.Request{Conn: conn, User: conn.UserID, Resources: []*graphsync.Resource{graphsync.Mail},
			Deadline: time.Now().Add(time.Minute)}
	}
	out, err := b.w.Engine.Sync(ctx, req())
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Failed) == 0 {
		t.Fatal("the sync did not fail although page commits were refused")
	}
	failed := b.count(t, `SELECT count(*) FROM sync_state WHERE resource = 'mail' AND stream NOT IN ('', 'folders') AND next_link IS NOT NULL`)
	if failed == 0 {
		t.Fatal("no folder was left mid-round, so the test proves nothing")
	}
	// Every folder left mid-round holds its two committed pages and nothing
	// of the failed page or the one fetched after it.
	if n := b.count(t, `SELECT count(*) FROM sync_state WHERE resource = 'mail' AND next_link IS NOT NULL AND (pages <> 2 OR upserted <> 20)`); n != 0 {
		t.Fatalf("%d folders mid-round do not stand at their second page", n)
	}
	if n := b.count(t, `SELECT count(*) FROM mail_messages m JOIN sync_state s
		ON s.connection_id = m.connection_id AND s.resource = 'mail' AND s.stream = m.folder_id
		WHERE s.next_link IS NOT NULL`); n != failed*20 {
		t.Fatalf("folders mid-round hold %d messages, want %d (two pages of 10 each)", n, failed*20)
	}
	committed := b.count(t, `SELECT coalesce(sum(pages), 0) FROM sync_state WHERE resource = 'mail'`)
	served := statusCount(b.em.Counters(), "delta", 200)
	// Without fetching ahead, the emulator would have served the committed
	// pages and each failed one: the rest were fetched while a page was
	// written, and dropped.
	if served <= int64(committed+failed) {
		t.Fatalf("the emulator served %d delta pages for %d committed and %d failed: no page was fetched ahead", served, committed, failed)
	}

	if _, err := pool.Exec(ctx, `DROP TRIGGER fail_third_page ON sync_state`); err != nil {
		t.Fatal(err)
	}
	if out, err = b.w.Engine.Sync(ctx, req()); err != nil || !out.Done() {
		t.Fatalf("second sync: %+v, %v", out, err)
	}
	b.assertMailMatchesTruth(t)
}

// TestPageSizePerResource asks mail in the page size configured for it,
// not the Graph client's.
func TestPageSizePerResource(t *testing.T) {
	t.Parallel()
	b := setup(t, options{
		emu: emulator.Config{Users: 1, MessagesPerUser: 200},
		worker: func(c *worker.Config) {
			c.Graph.MaxPageSize = 100
			c.Engine.PageSizes = map[*graphsync.Resource]int{graphsync.Mail: 7}
		},
	})
	b.syncNow(t, time.Minute)
	b.assertMailMatchesTruth(t)
	// The largest folder's round took a page per 7 messages.
	var pages, upserted int
	if err := b.store.Pool().QueryRow(context.Background(), `SELECT pages, upserted FROM sync_state
		WHERE resource = 'mail' AND stream NOT IN ('', 'folders') ORDER BY upserted DESC LIMIT 1`).Scan(&pages, &upserted); err != nil {
		t.Fatal(err)
	}
	if upserted < 50 || pages < (upserted+6)/7 {
		t.Fatalf("the largest folder's %d messages came in %d pages, want pages of at most 7", upserted, pages)
	}
}
