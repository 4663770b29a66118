package jobs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/internal/verify"
	"github.com/graphsync/graphsync/internal/worker"
)

// drift compares a connection's rows of a resource with the truth and
// returns every difference.
func (b *bundle) drift(t *testing.T, resource string) []string {
	t.Helper()
	c := b.conns[0]
	results, err := verify.Resource(context.Background(), b.store.Pool(), b.em.URL(), c.ID, c.UserID, resource)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range results {
		out = append(out, r.Diffs...)
	}
	return out
}

// With delta missing what Microsoft documents it can miss (a message moved
// out of its folder and back, OneDrive deletions without a tombstone), the
// tables drift from the ground truth; one reconciliation pass per stream
// repairs the difference, counts it, and touches nothing else.
func TestReconciliationRepairsMissedChanges(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{Users: 1, MessagesPerUser: 12, DriveItemsPerUser: 60, MissedChanges: true},
		resources: []string{"mail", "drive"},
		// A pass per stream every thousand hours: none falls within the
		// test unless it makes one due.
		worker: func(c *worker.Config) { c.Engine.ReconcileEvery = 1000 * time.Hour }})
	b.syncNow(t, 2*time.Minute)
	b.assertMatchesTruth(t, "mail")
	b.assertMatchesTruth(t, "drive")
	var mail, drive []string
	for i := 0; len(mail) == 0 || len(drive) == 0; i++ {
		if i == 40 {
			t.Fatalf("no drift after %d rounds of mutations (mail %v, drive %v): the test proves nothing", i, mail, drive)
		}
		b.em.Mutate(100)
		b.syncNow(t, 2*time.Minute)
		mail, drive = b.drift(t, "mail"), b.drift(t, "drive")
	}
	ctx := context.Background()
	before := map[string]float64{}
	for _, r := range []string{"mail", "drive"} {
		for _, repair := range []string{"deleted", "fetched"} {
			before[r+"/"+repair] = reconciledMetric(t, r, repair)
		}
	}
	var mark time.Time
	if err := b.store.Pool().QueryRow(ctx, "SELECT clock_timestamp()").Scan(&mark); err != nil {
		t.Fatal(err)
	}
	// A period has passed for every stream: one pass each.
	if _, err := b.store.Pool().Exec(ctx, `UPDATE reconciliations SET reconciled_at = reconciled_at - interval '1000 hours'`); err != nil {
		t.Fatal(err)
	}
	b.syncNow(t, 2*time.Minute)
	b.assertMatchesTruth(t, "mail")
	b.assertMatchesTruth(t, "drive")

	// What was repaired, and nothing else.
	repaired := func(resource, repair string) int {
		return b.count(t, "SELECT coalesce(sum("+repair+"), 0) FROM reconciliations WHERE resource = $1 AND reconciled_at > $2",
			resource, mark.Add(-time.Minute))
	}
	if repaired("mail", "fetched") == 0 || repaired("drive", "deleted") == 0 {
		t.Fatalf("the pass repaired mail %d fetched, drive %d deleted; want both", repaired("mail", "fetched"), repaired("drive", "deleted"))
	}
	for _, tc := range []struct{ table, resource string }{{"mail_messages", "mail"}, {"drive_items", "drive"}} {
		changed := b.count(t, "SELECT count(*) FROM "+tc.table+" WHERE synced_at > $1", mark)
		want := repaired(tc.resource, "fetched") + repaired(tc.resource, "deleted")
		if changed != want {
			t.Errorf("%s: %d rows changed by the pass, %d repaired", tc.table, changed, want)
		}
		for _, repair := range []string{"deleted", "fetched"} {
			got := reconciledMetric(t, tc.resource, repair) - before[tc.resource+"/"+repair]
			if int(got) != repaired(tc.resource, repair) {
				t.Errorf("graphsync_reconciled_total{resource=%q,repair=%q} rose by %v, the pass repaired %d", tc.resource, repair, got, repaired(tc.resource, repair))
			}
		}
	}
	if n := b.count(t, "SELECT count(*) FROM mail_folders WHERE synced_at > $1", mark); n != 0 {
		t.Errorf("the pass rewrote %d folders", n)
	}
	// Not due again before its next period.
	b.em.ResetCounters()
	b.syncNow(t, time.Minute)
	for route := range b.em.Counters().Requests {
		if strings.Contains(route, "$select=id") || (strings.Contains(route, "mailFolders") && strings.HasSuffix(route, "/messages")) {
			t.Errorf("a pass ran again at once: %s", route)
		}
	}
}

// reconciledMetric reads graphsync_reconciled_total of a resource and
// repair from this process's registry.
func reconciledMetric(t *testing.T, resource, repair string) float64 {
	t.Helper()
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "graphsync_reconciled_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["resource"] == resource && labels["repair"] == repair {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no graphsync_reconciled_total{resource=%q,repair=%q}", resource, repair)
	return 0
}
