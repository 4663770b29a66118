package main

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/verify"
	"github.com/graphsync/graphsync/jobs"
)

// `graphsync sync --wait` syncs now even when the scheduler has already
// queued the mailbox's job for later: it moves that job up and waits for
// it; its progress counts the connection asked for only; a resource that
// fails (a missing permission) is named, with a non-zero exit.
func TestSyncWaitSyncsNow(t *testing.T) {
	t.Parallel()
	w := startWorkerWith(t, emulator.Config{Seed: 7, Users: 2, MessagesPerUser: 30}, nil, []*graphsync.Resource{graphsync.Mail})
	if code, out, errOut := w.run("sync", "--wait"); code != 0 {
		t.Fatalf("first sync: exit %d\n%s\n%s", code, out, errOut)
	}
	ctx := context.Background()
	conn := w.conns[0]

	// The scheduler queued this mailbox's next pass ten minutes ahead.
	rc, err := river.NewClient(riverpgxv5.New(w.st.Pool()), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Insert(ctx, jobs.SyncArgs{ConnectionID: conn.ID, UserID: conn.UserID, Resources: []string{"mail"}},
		&river.InsertOpts{ScheduledAt: time.Now().Add(10 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	w.em.Mutate(40)
	before, err := w.st.WrittenByResource(ctx, conn.ID)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	code, out, errOut := w.run("sync", "--wait", "--connection", fmt.Sprint(conn.ID))
	wantCode(t, code, 0, out, errOut)
	if time.Since(start) > time.Minute {
		t.Errorf("sync --wait took %s", time.Since(start))
	}
	wantContains(t, "sync output", out, "syncing 1 mailbox(es) now", "done")
	results, err := verify.Resource(ctx, w.st.Pool(), w.em.URL(), conn.ID, conn.UserID, "mail")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if len(r.Diffs) > 0 {
			t.Fatalf("after sync --wait, %s differs from Microsoft 365: %v\n%s", r.Table, r.Diffs, out)
		}
	}
	// The last block counts what this connection wrote, not the other's.
	after, err := w.st.WrittenByResource(ctx, conn.ID)
	if err != nil {
		t.Fatal(err)
	}
	wrote := after["mail"].Upserted - before["mail"].Upserted
	m := regexp.MustCompile(`(?s).*done\n\s+mail\s+(\d+) records`).FindStringSubmatch(out)
	if wrote == 0 || m == nil || m[1] != strconv.FormatInt(wrote, 10) {
		t.Errorf("progress of connection %d: want %d mail records in the last block:\n%s", conn.ID, wrote, out)
	}

	// Its streams are named by folder, as people know them.
	code, out, errOut = w.run("connections", "show", fmt.Sprint(conn.ID))
	wantCode(t, code, 0, out, errOut)
	wantContains(t, "connections show", out, "Inbox", "Sent Items")

	// Enabled without its permission: the calendar fails, and says so.
	code, out, errOut = w.run("connections", "resources", fmt.Sprint(conn.ID), "--enable", "calendar")
	wantCode(t, code, 0, out, errOut)
	code, out, errOut = w.run("sync", "--wait", "--connection", fmt.Sprint(conn.ID))
	wantCode(t, code, 1, out, errOut)
	wantContains(t, "sync output", out, "FAILED connection "+fmt.Sprint(conn.ID), "calendar: missing_scope (needs Calendars.Read)")
	wantContains(t, "sync error", errOut, "1 sync(s) failed")
}
