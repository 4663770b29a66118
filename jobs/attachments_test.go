package jobs_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/worker"
	"github.com/graphsync/graphsync/syncer"
)

// attachmentCap is the content size cap of the attachment tests.
const attachmentCap = 8 << 20

// keepContent turns attachment content on, capped at attachmentCap.
func keepContent(c *worker.Config) {
	c.Engine.AttachmentContent = true
	c.Engine.AttachmentMaxBytes = attachmentCap
}

// messageIDs lists a user's live messages, with and without attachments.
func (b *bundle) messageIDs(t *testing.T, user string) (with, without []string) {
	t.Helper()
	for _, raw := range b.truth(t, user, "messages") {
		var m struct {
			ID             string `json:"id"`
			HasAttachments bool   `json:"hasAttachments"`
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		if m.HasAttachments {
			with = append(with, m.ID)
		} else {
			without = append(without, m.ID)
		}
	}
	return with, without
}

// Attachments of every kind are synced with their messages and equal the
// ground truth, their content streamed in and hashed as $value serves it
// (one over the cap skipped, saying why); an attachment removed, and the
// attachments of deleted messages, are retired; a 410 changes nothing;
// an idle pass rewrites nothing.
func TestMailAttachmentsMatchGroundTruth(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{Users: 1, MessagesPerUser: 120}, worker: keepContent})
	ctx := context.Background()
	user := b.conns[0].UserID
	with, without := b.messageIDs(t, user)
	if len(with) < 3 || len(without) < 3 {
		t.Fatalf("%d messages with attachments and %d without; the test needs 3 of each", len(with), len(without))
	}
	var big, file string
	for i, spec := range []emulator.AttachmentSpec{
		{Name: "archive.zip", Size: attachmentCap + 1<<20},
		{Name: "scan.pdf", Size: 5 << 20},
		{Kind: "item", Item: "event"},
		{Kind: "reference", Name: "plan.docx"},
		{Name: "logo.png", Size: 3000, Inline: true},
	} {
		id, err := b.em.AddAttachment(user, without[i%2], spec)
		if err != nil {
			t.Fatal(err)
		}
		switch i {
		case 0:
			big = id
		case 1:
			file = id
		}
	}
	b.syncNow(t, 2*time.Minute)
	b.assertMailMatchesTruth(t)
	// Attachment lists and content go through the mailbox's gate: never
	// more than Outlook's four requests in flight.
	for key, peak := range b.em.Counters().PeakOutlook {
		if peak > 4 {
			t.Fatalf("%d Outlook requests in flight at once for %s", peak, key)
		}
	}
	if b.count(t, `SELECT count(*) FROM mail_attachments`) == 0 {
		t.Fatal("no attachment synced")
	}

	var stored, skipped int
	if err := b.store.Pool().QueryRow(ctx, `SELECT count(*) FILTER (WHERE content_sha256 IS NOT NULL), count(*) FILTER (WHERE content_skipped IS NOT NULL)
		FROM mail_attachments WHERE deleted_at IS NULL`).Scan(&stored, &skipped); err != nil {
		t.Fatal(err)
	}
	want := b.count(t, `SELECT count(*) FROM mail_attachments WHERE deleted_at IS NULL AND kind IN ('file', 'item') AND size <= $1`, attachmentCap)
	if stored != want || stored < 3 {
		t.Fatalf("content stored for %d attachments, want every file and item under the cap (%d)", stored, want)
	}
	var reason string
	if err := b.store.Pool().QueryRow(ctx, `SELECT content_skipped FROM mail_attachments WHERE right(id, length($1)) = $1`, suffix(big)).Scan(&reason); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(reason, "over the size cap") {
		t.Fatalf("the attachment over the cap: skipped %q, want the cap named", reason)
	}
	if n := b.count(t, `SELECT count(*) FROM mail_attachments WHERE kind = 'reference' AND content_skipped LIKE 'no content%'`); n == 0 {
		t.Fatal("no reference attachment marked as having no content")
	}
	// Every stored object is one large object, and nothing else is.
	if n := b.count(t, `SELECT count(*) FROM pg_largeobject_metadata`); n != stored {
		t.Fatalf("%d large objects for %d stored contents", n, stored)
	}
	var length int64
	if err := b.store.Pool().QueryRow(ctx, `SELECT length(lo_get(content_oid)) FROM mail_attachments WHERE right(id, length($1)) = $1`, suffix(file)).Scan(&length); err != nil {
		t.Fatal(err)
	}
	if length != 5<<20 {
		t.Fatalf("lo_get of the 5 MB attachment has %d bytes", length)
	}

	// An attachment removed, messages deleted, moved and changed.
	if err := b.em.RemoveAttachment(user, without[1], file); err != nil {
		t.Fatal(err)
	}
	// Mutations until a message with attachments stored is deleted.
	var deleted []string
	for i := 0; ; i++ {
		b.em.Mutate(100)
		if deleted = b.goneMessages(t, user); len(deleted) > 0 {
			break
		}
		if i == 20 {
			t.Fatal("no message with attachments stored was deleted; the test proves nothing")
		}
	}
	b.syncNow(t, 2*time.Minute)
	b.assertMailMatchesTruth(t)
	if n := b.count(t, `SELECT count(*) FROM mail_attachments WHERE right(id, length($1)) = $1 AND deleted_at IS NOT NULL`, suffix(file)); n != 1 {
		t.Fatal("the removed attachment is not retired")
	}
	if n := b.count(t, `SELECT count(*) FROM mail_attachments WHERE message_id = ANY($1) AND deleted_at IS NULL`, deleted); n != 0 {
		t.Fatalf("%d attachments of deleted messages are live", n)
	}
	// Retired rows keep their content: the large objects of the removed
	// attachment and of the deleted messages' stay with their rows.
	if n := b.count(t, `SELECT count(*) FROM pg_largeobject_metadata`); n != b.count(t, `SELECT count(*) FROM mail_attachments WHERE content_oid IS NOT NULL`) {
		t.Fatalf("%d large objects, not one per row naming one", n)
	}

	// A 410 starts every stream over: the attachments stay as they are.
	b.em.ExpireDeltaTokens()
	b.syncNow(t, 2*time.Minute)
	b.assertMailMatchesTruth(t)

	var mark time.Time
	if err := b.store.Pool().QueryRow(ctx, "SELECT clock_timestamp()").Scan(&mark); err != nil {
		t.Fatal(err)
	}
	b.em.ResetCounters()
	b.syncNow(t, time.Minute)
	if n := b.count(t, "SELECT count(*) FROM mail_attachments WHERE synced_at > $1", mark); n != 0 {
		t.Fatalf("an idle pass rewrote %d attachments", n)
	}
	for route := range b.em.Counters().Requests {
		if strings.Contains(route, "attachments") {
			t.Fatalf("an idle pass asked for %s", route)
		}
	}

	// Deleting the connection leaves no large object behind.
	if _, err := b.store.Pool().Exec(ctx, `DELETE FROM connections WHERE id = $1`, b.conns[0].ID); err != nil {
		t.Fatal(err)
	}
	if n := b.count(t, `SELECT count(*) FROM pg_largeobject_metadata`); n != 0 {
		t.Fatalf("%d large objects outlive their connection", n)
	}
}

// goneMessages lists the messages whose attachments are stored live but
// which are no longer live in the ground truth (deleted, or in a deleted
// folder).
func (b *bundle) goneMessages(t *testing.T, user string) []string {
	t.Helper()
	live := map[string]bool{}
	for _, raw := range b.truth(t, user, "messages") {
		id, _ := graphsync.ID(raw)
		live[id] = true
	}
	rows, err := b.store.Pool().Query(context.Background(), `SELECT DISTINCT message_id FROM mail_attachments WHERE deleted_at IS NULL`)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, id := range ids {
		if !live[id] {
			out = append(out, id)
		}
	}
	return out
}

// suffix is an attachment id's own part, after its message's id: the
// emulator returns ids with the message's default id, graphsync stores
// them with its immutable one.
func suffix(id string) string {
	return id[strings.LastIndex(id, "BEgAQ"):]
}

// A failure reading attachments after the messages' pages committed loses
// nothing: the messages stay queued and their attachments are read on the
// retry.
func TestMailAttachmentsSurviveAFailure(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{Users: 1, MessagesPerUser: 60}})
	ctx := context.Background()
	b.em.SetFaults(emulator.Faults{Routes: []string{"/attachments"}, Status500: 1})
	if _, err := b.svc.EnqueueSync(ctx, b.client, 0, nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	var id int64
	for {
		var state string
		err := b.store.Pool().QueryRow(ctx, `SELECT id, state::text FROM river_job WHERE kind = 'graphsync_sync' ORDER BY id DESC LIMIT 1`).Scan(&id, &state)
		if err == nil && state == "retryable" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sync job never became retryable (state %q, err %v)", state, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	with, _ := b.messageIDs(t, b.conns[0].UserID)
	if n := b.count(t, `SELECT count(*) FROM mail_messages WHERE has_attachments AND deleted_at IS NULL`); n != len(with) {
		t.Fatalf("%d messages with attachments stored before the failure, want all %d", n, len(with))
	}
	if n := b.count(t, `SELECT count(*) FROM detail_fetches WHERE want_version IS DISTINCT FROM done_version`); n < len(with) {
		t.Fatalf("%d messages queued for their attachments, want at least %d", n, len(with))
	}
	b.em.SetFaults(emulator.Faults{})
	if _, err := b.client.JobRetry(ctx, id); err != nil {
		t.Fatal(err)
	}
	b.waitIdle(t, time.Minute)
	b.assertMailMatchesTruth(t)
	if n := b.count(t, `SELECT count(*) FROM detail_fetches WHERE want_version IS DISTINCT FROM done_version`); n != 0 {
		t.Fatalf("%d messages still queued after the retry", n)
	}
}

// TestSlowRateOutlastingTheJobContinues reads attachments at a mailbox rate
// far too low for a job's time (a batch of them takes longer than River
// would wait): the job stops at its budget as a continuation (snooze,
// nothing failed, no error on any stream), and later jobs end equal to the
// ground truth.
func TestSlowRateOutlastingTheJobContinues(t *testing.T) {
	t.Parallel()
	b := setup(t, options{
		emu:       emulator.Config{Users: 1, MessagesPerUser: 120},
		worker:    func(c *worker.Config) { c.Graph.MailboxRate, c.Graph.MailboxBurst = 4, 4 },
		noWorkers: true,
	})
	conn := b.conns[0]
	with, _ := b.messageIDs(t, conn.UserID)
	if len(with) < 20 {
		t.Fatalf("%d messages with attachments; the test needs 20 (more than the job can read)", len(with))
	}
	req := func(budget time.Duration) syncer.Request {
		return syncer.Request{Conn: conn, User: conn.UserID, Resources: []*graphsync.Resource{graphsync.Mail},
			Deadline: time.Now().Add(budget)}
	}
	for i := 0; ; i++ {
		// River's deadline comes after the job's budget, with time for
		// the requests in flight and the checkpoints, as JobTimeout sets
		// it (graph's TestTurnPastDeadlineIsNotSent covers a wait that
		// would outlast it).
		ctx, cancel := context.WithTimeout(context.Background(), 12*time.Second)
		out, err := b.w.Engine.Sync(ctx, req(2*time.Second))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Failed) > 0 || out.Stop {
			t.Fatalf("job %d failed instead of continuing: %v", i+1, out.Failed)
		}
		if n := b.count(t, `SELECT count(*) FROM sync_state WHERE last_error IS NOT NULL`); n != 0 {
			t.Fatalf("job %d recorded an error on %d streams", i+1, n)
		}
		if out.Done() {
			if i == 0 {
				t.Fatal("the first job read everything: the rate did not hold it back, so the test proves nothing")
			}
			break
		}
		if !out.Snooze {
			t.Fatalf("job %d neither finished nor asked to continue", i+1)
		}
		if i == 60 {
			t.Fatal("60 jobs did not finish the mailbox")
		}
	}
	b.assertMailMatchesTruth(t)
	if n := b.count(t, `SELECT count(*) FROM detail_fetches WHERE want_version IS DISTINCT FROM done_version`); n != 0 {
		t.Fatalf("%d messages still queued for their attachments", n)
	}
}
