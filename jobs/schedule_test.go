package jobs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/internal/worker"
)

// The scheduler keeps a short interval: each sync starts about one
// interval after the previous one ended, not on the scheduler's own period.
func TestSchedulerHonoursShortInterval(t *testing.T) {
	t.Parallel()
	const interval = 10 * time.Second
	// Scheduled passes need no more than River's delay in making a
	// scheduled job available (5 s) plus the sync itself.
	const tolerance = 8 * time.Second
	b := setup(t, options{emu: emulator.Config{Users: 1, MessagesPerUser: 10}, worker: func(c *worker.Config) {
		c.Jobs.DisableScheduler = false
		c.Jobs.SyncInterval = interval
	}})
	ctx := context.Background()
	conn := b.conns[0]
	var successes []time.Time
	deadline := time.Now().Add(75 * time.Second)
	for len(successes) < 5 && time.Now().Before(deadline) {
		var at *time.Time
		if err := b.store.Pool().QueryRow(ctx, `SELECT last_success_at FROM sync_state
			WHERE connection_id = $1 AND resource = 'mail' AND stream = ''`, conn.ID).Scan(&at); err == nil && at != nil &&
			(len(successes) == 0 || at.After(successes[len(successes)-1])) {
			successes = append(successes, *at)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(successes) < 5 {
		t.Fatalf("%d mail syncs in 75 s with a %s interval: %v", len(successes), interval, successes)
	}
	var gaps []string
	for i := 1; i < len(successes); i++ {
		gap := successes[i].Sub(successes[i-1])
		gaps = append(gaps, gap.Round(100*time.Millisecond).String())
		if gap < interval || gap > interval+tolerance {
			t.Errorf("sync %d came %s after the previous one; want %s to %s", i, gap, interval, interval+tolerance)
		}
	}
	t.Logf("gaps between syncs: %s", strings.Join(gaps, ", "))
}
