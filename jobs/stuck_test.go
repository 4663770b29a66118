package jobs_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graph"
	"github.com/graphsync/graphsync/internal/worker"
	"github.com/graphsync/graphsync/jobs"
)

// texts runs a query of one text column.
func (b *bundle) texts(t *testing.T, sql string, args ...any) []string {
	t.Helper()
	rows, err := b.store.Pool().Query(context.Background(), sql, args...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// streamErrors lists the mail streams' last errors containing substr.
func (b *bundle) streamErrors(t *testing.T, substr string) []string {
	t.Helper()
	return b.texts(t, `SELECT stream || ': ' || last_error FROM sync_state
		WHERE resource = 'mail' AND position($1 in coalesce(last_error, '')) > 0`, substr)
}

// retryNow retries at once the sync jobs waiting out River's backoff, as an
// operator would from River UI.
func (b *bundle) retryNow(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	res, err := b.client.JobList(ctx, river.NewJobListParams().Kinds(jobs.SyncArgs{}.Kind()).
		States(rivertype.JobStateRetryable, rivertype.JobStateScheduled).First(1000))
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range res.Jobs {
		if _, err := b.client.JobRetry(ctx, j.ID); err != nil {
			t.Fatal(err)
		}
	}
}

// storedLinks lists every next and delta link in sync_state.
func (b *bundle) storedLinks(t *testing.T) []string {
	t.Helper()
	return b.texts(t, `SELECT l FROM sync_state, LATERAL (VALUES (next_link), (delta_link)) v(l) WHERE l IS NOT NULL`)
}

// A link to another origin is refused before it is stored: the round fails
// with a clear error on its stream and restarts later, and once Graph
// behaves the stream syncs. A link refused when it was stored long ago is
// dropped and the round starts over. (TestCheckLink covers the origin's
// normalisation: a default port written out is the same origin.)
func TestForeignLinksNeverBlockAStream(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{Users: 1, MessagesPerUser: 150}})
	for _, kind := range []string{"nextLink", "deltaLink"} {
		b.em.SetFaults(emulator.Faults{Routes: []string{"/messages/delta"}, LinkOrigin: "https://evil.example", LinkKind: kind})
		b.enqueue(t)
		waitFor(t, time.Minute, "the refused "+kind+" recorded on its stream", func() bool {
			return len(b.streamErrors(t, "@odata."+kind+" the client will not follow")) > 0
		})
		for _, l := range b.storedLinks(t) {
			if strings.Contains(l, "evil.example") {
				t.Fatalf("a foreign %s was stored: %s", kind, l)
			}
		}
		b.em.SetFaults(emulator.Faults{})
		b.retryNow(t)
		b.waitIdle(t, time.Minute)
		b.assertMailMatchesTruth(t)
		if errs := b.streamErrors(t, "will not follow"); len(errs) > 0 {
			t.Fatalf("streams still failing after Graph behaved: %q", errs)
		}
	}

	// A link stored before links were checked.
	if _, err := b.store.Pool().Exec(context.Background(), `UPDATE sync_state SET delta_link = 'https://evil.example/v1.0/me/mailFolders/x/messages/delta?$deltatoken=old'
		WHERE resource = 'mail' AND stream NOT IN ('', 'folders')`); err != nil {
		t.Fatal(err)
	}
	b.em.Mutate(30)
	b.syncNow(t, time.Minute)
	b.assertMailMatchesTruth(t)
	for _, l := range b.storedLinks(t) {
		if strings.Contains(l, "evil.example") {
			t.Fatalf("the foreign link is still stored: %s", l)
		}
	}
}

// A nextLink pointing at its own page, and an endless chain of distinct
// empty pages, end the round with a clear error instead of paging until the
// job's time runs out; the stream syncs once Graph behaves.
func TestPagingLoopsEndTheRound(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{Users: 1, MessagesPerUser: 80},
		worker: func(c *worker.Config) { c.Engine.MaxEmptyPages = 20 }})
	for _, tc := range []struct {
		name   string
		faults emulator.Faults
		reason string
	}{
		{"nextLink loop", emulator.Faults{Routes: []string{"/messages/delta"}, NextLinkLoop: true}, "paging loop"},
		{"empty pages", emulator.Faults{Routes: []string{"/messages/delta"}, EmptyPages: true}, "pages in a row without an item"},
	} {
		b.em.ResetCounters()
		b.em.SetFaults(tc.faults)
		b.enqueue(t)
		waitFor(t, time.Minute, tc.name+" recorded on its stream", func() bool { return len(b.streamErrors(t, tc.reason)) > 0 })
		served := statusCount(b.em.Counters(), "messages/delta", 200)
		b.em.SetFaults(emulator.Faults{})
		// Each attempt stops within the bound: a few folders at a time,
		// each at most MaxEmptyPages+1 pages (one for a loop).
		if served > 400 {
			t.Errorf("%s: %d pages served before the round ended", tc.name, served)
		}
		b.retryNow(t)
		b.waitIdle(t, time.Minute)
		b.assertMailMatchesTruth(t)
		t.Logf("%s: %d pages served by the time the round failed: %q", tc.name, served, b.streamErrors(t, tc.reason))
	}
}

// One record with a raw control character spoils its page: smaller pages
// isolate it, it is quarantined with its payload, and every other message
// is stored.
func TestControlCharacterRecordIsQuarantined(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{Users: 1, MessagesPerUser: 120},
		worker: func(c *worker.Config) { c.Graph.MaxPageSize = 100 }})
	user := b.em.Users()[0].ID
	bad, err := b.em.InjectControlCharMessage(user, "inbox")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.em.InjectLargeMessages(user, "inbox", 5, 100); err != nil {
		t.Fatal(err)
	}
	b.syncNow(t, 2*time.Minute)
	b.assertMailMatchesTruth(t)
	var reason string
	var payload []byte
	if err := b.store.Pool().QueryRow(context.Background(), `SELECT error, payload FROM quarantine WHERE item_id = $1`, bad).
		Scan(&reason, &payload); err != nil {
		t.Fatalf("the spoiled message is not quarantined: %v", err)
	}
	if !strings.Contains(reason, "not valid JSON") || !bytes.Contains(payload, []byte("\x01")) {
		t.Fatalf("quarantined as %q with a payload of %d bytes", reason, len(payload))
	}
	if n := b.count(t, "SELECT count(*) FROM quarantine"); n != 1 {
		t.Fatalf("%d records quarantined, want the spoiled one", n)
	}
	// Later passes carry on from the deltaLink.
	b.em.Mutate(20)
	b.syncNow(t, time.Minute)
	b.assertMailMatchesTruth(t)
}

// Pages over the 64 MiB body cap: smaller pages hold them, and a message
// over the cap alone is quarantined (its id, its size, the start of its
// payload) while the rest is stored. Not parallel: it holds a few hundred
// megabytes.
func TestPagesOverTheBodyCap(t *testing.T) {
	if testing.Short() {
		t.Skip("moves a few hundred megabytes; covered by make test")
	}
	b := setup(t, options{emu: emulator.Config{Users: 1, MessagesPerUser: 10},
		worker: func(c *worker.Config) { c.Graph = graph.Config{BaseURL: c.Graph.BaseURL, MaxPageSize: 100} }})
	user := b.em.Users()[0].ID
	if _, err := b.em.InjectLargeMessages(user, "inbox", 100, 700_000); err != nil {
		t.Fatal(err)
	}
	huge, err := b.em.InjectLargeMessages(user, "inbox", 1, 65<<20)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.em.InjectLargeMessages(user, "inbox", 3, 1000); err != nil {
		t.Fatal(err)
	}
	b.syncNow(t, 3*time.Minute)
	var reason string
	var payload []byte
	if err := b.store.Pool().QueryRow(context.Background(), `SELECT error, payload FROM quarantine WHERE item_id = $1`, huge[0]).
		Scan(&reason, &payload); err != nil {
		t.Fatalf("the message over the cap is not quarantined: %v", err)
	}
	if !strings.Contains(reason, "too large") || len(payload) == 0 || len(payload) > 64<<10 {
		t.Fatalf("quarantined as %q with %d bytes of payload", reason, len(payload))
	}
	n := b.count(t, "SELECT count(*) FROM mail_messages WHERE deleted_at IS NULL AND length(raw->'body'->>'content') = 700000")
	if n != 100 {
		t.Fatalf("%d of the 100 large messages stored", n)
	}
	if n := b.count(t, "SELECT count(*) FROM mail_messages WHERE id = $1", huge[0]); n != 0 {
		t.Fatalf("the message over the cap was stored")
	}
	if n := b.count(t, "SELECT count(*) FROM sync_state WHERE next_link IS NOT NULL OR status <> 'ok'"); n != 0 {
		t.Fatalf("%d streams not at rest", n)
	}
}
