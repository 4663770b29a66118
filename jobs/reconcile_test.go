package jobs_test

import (
	"context"
	"slices"
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

// A library's reconciliation pass repairs what delta missed and leaves
// its permissions equal to the truth: the items deleted without a
// tombstone take their permissions along, and an item fetched by GET,
// whose shared facet is not delta's hierarchical one (a GET serves it on
// every shared item, inherited or not), holds permissions of its own only
// when the pass's listing says so.
func TestLibraryReconciliationKeepsPermissions(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{Users: 1, MessagesPerUser: 1, DriveItemsPerLibrary: 60, MissedChanges: true},
		resources: []string{"sites"}, sites: selectedSites, application: true,
		worker: func(c *worker.Config) {
			c.Engine.ReconcileEvery = 1000 * time.Hour
			c.Graph.DriveUnitsPerMinute = 60000
		}})
	b.syncNow(t, 2*time.Minute)
	b.assertSitesMatchTruth(t)
	ctx := context.Background()

	// Items holding permissions of their own are deleted, some without a
	// tombstone.
	perms := b.truthPermissions(t, "sitePermissions")
	var deleted []string
	for _, p := range perms {
		if p.Item == p.From && len(p.Link) > 0 && !slices.Contains(deleted, p.Item) && len(deleted) < 12 {
			if err := b.em.DeleteDriveItem(p.Drive, p.Item); err == nil {
				deleted = append(deleted, p.Item)
			}
		}
	}
	b.syncNow(t, 2*time.Minute)
	missed := b.count(t, `SELECT count(DISTINCT item_id) FROM drive_item_permissions p
		WHERE deleted_at IS NULL AND item_id = ANY($1)`, deleted)
	if missed == 0 {
		t.Fatalf("every one of %d deletions came with its tombstone: the test proves nothing", len(deleted))
	}

	// Creations delta missed: a file inheriting a shared list, and one
	// holding its own, are not in the tables.
	live := b.truthPermissions(t, "sitePermissions")
	var inheriting, owning string
	for _, p := range live {
		if len(p.Link) == 0 {
			continue
		}
		file := b.count(t, `SELECT count(*) FROM drive_items WHERE id = $1 AND NOT is_folder AND deleted_at IS NULL`, p.Item) > 0
		switch {
		case file && p.Item != p.From && inheriting == "":
			inheriting = p.Item
		case file && p.Item == p.From && owning == "":
			owning = p.Item
		}
	}
	if inheriting == "" || owning == "" {
		t.Fatalf("no file inheriting a sharing link (%q) or holding one (%q)", inheriting, owning)
	}
	missing := []string{inheriting, owning}
	if _, err := b.store.Pool().Exec(ctx, `DELETE FROM drive_item_permissions WHERE item_id = ANY($1)`, missing); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.Pool().Exec(ctx, `DELETE FROM detail_fetches WHERE item_id = ANY($1)`, missing); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.Pool().Exec(ctx, `UPDATE drive_items SET deleted_at = now() - interval '1 hour' WHERE id = ANY($1)`, missing); err != nil {
		t.Fatal(err)
	}

	// One pass per library repairs both.
	if _, err := b.store.Pool().Exec(ctx, `UPDATE reconciliations SET reconciled_at = reconciled_at - interval '1000 hours'`); err != nil {
		t.Fatal(err)
	}
	var mark time.Time
	if err := b.store.Pool().QueryRow(ctx, "SELECT clock_timestamp()").Scan(&mark); err != nil {
		t.Fatal(err)
	}
	b.syncNow(t, 2*time.Minute)
	b.assertSitesMatchTruth(t)
	for _, repair := range []string{"deleted", "fetched"} {
		if n := b.count(t, "SELECT coalesce(sum("+repair+"), 0) FROM reconciliations WHERE resource = 'sites' AND reconciled_at > $1",
			mark.Add(-time.Minute)); n == 0 {
			t.Fatalf("the pass %s nothing", repair)
		}
	}
	for _, item := range deleted {
		if n := b.count(t, `SELECT count(*) FROM drive_item_permissions WHERE item_id = $1 AND deleted_at IS NULL`, item); n != 0 {
			t.Fatalf("deleted item %s keeps %d live permissions", item, n)
		}
	}
	if n := b.count(t, `SELECT count(*) FROM drive_item_permissions WHERE item_id = $1`, inheriting); n != 0 {
		t.Fatalf("fetched item %s, which inherits, stored %d permissions as its own", inheriting, n)
	}
	if n := b.count(t, `SELECT count(*) FROM drive_item_access WHERE item_id = $1 AND inherited`, inheriting); n == 0 {
		t.Fatalf("no inherited permission applies to fetched item %s", inheriting)
	}
	own := 0
	for _, p := range live {
		if p.Item == owning {
			own++
		}
	}
	if n := b.count(t, `SELECT count(*) FROM drive_item_permissions WHERE item_id = $1 AND deleted_at IS NULL`, owning); n != own {
		t.Fatalf("fetched item %s holds %d permissions of its own, truth %d", owning, n, own)
	}
}
