package jobs_test

import (
	"testing"
	"time"

	"github.com/graphsync/graphsync/emulator"
)

// An idle pass asks for a mailbox's delta links in JSON batches, and a
// pass after changes goes through the same page handling: the tables end
// equal to the ground truth.
func TestIdlePassBatchesDeltaLinks(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{Users: 2, MessagesPerUser: 40, EventsPerUser: 6, ContactsPerUser: 6},
		resources: []string{"mail", "calendar", "contacts"}})
	b.syncNow(t, time.Minute)
	streams := b.count(t, `SELECT count(*) FROM sync_state WHERE delta_link <> '' AND next_link IS NULL AND resource IN ('mail', 'calendar', 'contacts')`)

	b.em.ResetCounters()
	b.syncNow(t, time.Minute)
	c := b.em.Counters()
	batches := c.Requests["$batch"][200]
	t.Logf("idle pass of %d delta streams in %d mailboxes: %d round trips, %d of them batches", streams, len(b.conns), c.RoundTrips, batches)
	if batches == 0 {
		t.Fatal("the idle pass sent no batch")
	}
	// A batch per mailbox holds its delta streams (the token refreshes and
	// user lookups are the only other round trips).
	if c.RoundTrips*3 > int64(streams) {
		t.Fatalf("the idle pass of %d delta streams took %d round trips, want at most a third", streams, c.RoundTrips)
	}

	b.em.Mutate(60)
	b.syncNow(t, time.Minute)
	b.assertMailMatchesTruth(t)
	b.assertCalendarMatchesTruth(t)
	b.assertMatchesTruth(t, "contacts")
}
