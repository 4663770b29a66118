package jobs_test

import (
	"testing"
	"time"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/internal/worker"
)

// Three worker processes on one database, each with its own Graph client
// and River client, sync many users of one tenant: the tenant's Teams
// requests stay within their budget in every second, and its OneDrive
// resource units within theirs in every minute, because every process
// draws from the same buckets in PostgreSQL.
func TestTenantBudgetsHoldAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("runs past a minute to measure OneDrive's one-minute windows")
	}
	t.Parallel()
	// Budgets scaled down so that the sync outruns them: each user's
	// drive costs 2 resource units (a delta without a token) plus 5 per
	// item with permissions of its own, and each
	// user's chats a listing and a message listing per chat.
	const teamsPerSecond, driveUnitsPerMinute, users = 6, 60, 16
	budgets := func(c *worker.Config) {
		c.Graph.TenantRate = teamsPerSecond
		c.Graph.DriveUnitsPerMinute = driveUnitsPerMinute
		c.Jobs.SyncWorkers = 3 // few, so that every process takes some of the jobs
	}
	b := setup(t, options{
		emu: emulator.Config{Users: users, MessagesPerUser: 1, DriveItemsPerUser: 4, ChatsPerUser: 2, ChatMessagesPerChat: 2,
			Latency: emulator.Latency{Min: 5 * time.Millisecond, Max: 20 * time.Millisecond}},
		resources: []string{"drive", "chats"},
		worker:    budgets,
	})
	b.newProcessWith(t, budgets)
	b.newProcessWith(t, budgets)

	start := time.Now()
	b.syncNow(t, 4*time.Minute)
	took := time.Since(start)
	b.assertDriveMatchesTruth(t)
	b.assertChatsMatchTruth(t)

	tenant := b.conns[0].TenantID
	teams, err := b.em.MaxRequestsInWindow("teams", tenant, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	drive, err := b.em.MaxResourceUnitsInWindow("drive", tenant, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	c := b.em.Counters()
	t.Logf("sync of %d users by 3 processes took %s: at most %d Teams requests in a second (budget %d), %d OneDrive units in a minute (budget %d), %d throttled",
		users, took.Round(time.Millisecond), teams, teamsPerSecond, drive, driveUnitsPerMinute, c.Throttled+c.ThrottledUnavailable)
	if teams > teamsPerSecond {
		t.Errorf("%d Teams requests of the tenant reached Graph within one second, over the budget of %d", teams, teamsPerSecond)
	}
	if drive > driveUnitsPerMinute {
		t.Errorf("%d OneDrive resource units of the tenant reached Graph within one minute, over the budget of %d", drive, driveUnitsPerMinute)
	}
	// The budgets bound something: at the budget, the drives alone need
	// more than the minute the test measures.
	if took < time.Minute {
		t.Errorf("the sync took %s: the OneDrive budget was never the limit, so the test proves nothing", took)
	}
	if n := b.count(t, "SELECT count(DISTINCT holder) FROM budget_leases"); n != 3 {
		t.Errorf("%d processes took from the tenant budgets, want all 3", n)
	}
}
