package jobs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/graphsync/graphsync/emulator"
)

// One job syncs a mailbox's resources side by side: a resource that keeps
// failing is recorded as failed and the job retried, while the others are
// synced all the same; the retry syncs only what failed.
func TestFailingResourceDoesNotHoldUpOthers(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{Users: 1, MessagesPerUser: 40, DriveItemsPerUser: 10, EventsPerUser: 10},
		resources: []string{"mail", "calendar", "drive"}})
	ctx := context.Background()
	b.em.SetFaults(emulator.Faults{Routes: []string{"calendarView"}, Status500: 1})
	if _, err := b.svc.EnqueueSync(ctx, b.client, 0, nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	var id int64
	for {
		var state, errs string
		var attempt int
		err := b.store.Pool().QueryRow(ctx, `SELECT id, state::text, attempt, coalesce(errors::text, '') FROM river_job
			WHERE kind = 'graphsync_sync' ORDER BY id DESC LIMIT 1`).Scan(&id, &state, &attempt, &errs)
		if err == nil && state == "retryable" {
			if !strings.Contains(errs, "sync calendar") || strings.Contains(errs, "sync mail") || strings.Contains(errs, "sync drive") {
				t.Fatalf("job retryable at attempt %d with errors %s; want calendar's failure only", attempt, errs)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sync job never became retryable (state %q, err %v)", state, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.assertMatchesTruth(t, "mail")
	b.assertMatchesTruth(t, "drive")
	if n := b.count(t, `SELECT count(*) FROM sync_state WHERE resource = 'calendar' AND stream = '' AND status = 'error' AND last_error <> ''`); n != 1 {
		t.Fatalf("calendar's failure recorded on %d rows, want its resource row", n)
	}

	b.em.ResetCounters()
	b.em.SetFaults(emulator.Faults{})
	// Rather than wait out River's backoff, which grows with attempts.
	if _, err := b.client.JobRetry(ctx, id); err != nil {
		t.Fatal(err)
	}
	b.waitIdle(t, time.Minute)
	b.assertMatchesTruth(t, "calendar")
	for route, byStatus := range b.em.Counters().Requests {
		if strings.Contains(route, "mailFolders") || strings.Contains(route, "drive") {
			t.Errorf("the retry asked %s again (%v), though it was synced in this pass", route, byStatus)
		}
	}
	if n := b.count(t, `SELECT count(*) FROM sync_state WHERE resource = 'calendar' AND stream = '' AND status = 'ok'`); n != 1 {
		t.Fatal("calendar's row not back to ok after the retry")
	}
}
