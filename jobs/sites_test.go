package jobs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/internal/verify"
)

// selectedSites picks every site of the tenant, the first by URL and the
// others by id, and a site the tenant does not have.
func selectedSites(em *emulator.Server) []string {
	var out []string
	for i, s := range em.Sites() {
		if i%2 == 0 {
			out = append(out, s.WebURL)
		} else {
			out = append(out, s.ID)
		}
	}
	host := strings.TrimPrefix(em.Sites()[0].WebURL, "https://")
	host, _, _ = strings.Cut(host, "/")
	return append(out, "https://"+host+"/sites/nowhere")
}

// assertSitesMatchTruth compares every connection's sites, libraries and
// library items with the truth of the selected sites.
func (b *bundle) assertSitesMatchTruth(t *testing.T) {
	t.Helper()
	for _, c := range b.conns {
		results, err := verify.Sites(context.Background(), b.store.Pool(), b.em.URL(), c.ID, c.UserID, selectedSites(b.em))
		if err != nil {
			t.Fatal(err)
		}
		assertResults(t, c.ID, results)
	}
}

// The selected sites' libraries and their items equal the truth after the
// first sync, after files are added, edited, renamed, moved and deleted,
// and after the libraries' delta tokens expire (410, a full round); a
// selected site the tenant does not have is a state of its own, and the
// connection goes on.
func TestSitesSyncMatchesGroundTruth(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{Users: 2, MessagesPerUser: 1, DriveItemsPerLibrary: 60},
		resources: []string{"sites"}, sites: selectedSites, application: true})
	b.syncNow(t, 2*time.Minute)
	b.assertSitesMatchTruth(t)
	if n := b.count(t, "SELECT count(*) FROM drive_items WHERE drive_id IN (SELECT id FROM site_drives) AND path LIKE '/%/%' AND deleted_at IS NULL"); n == 0 {
		t.Fatal("no library item below a folder has its path")
	}
	if n := b.count(t, `SELECT count(*) FROM sync_state WHERE resource = 'sites' AND stream LIKE 'site https://%/sites/nowhere'
		AND status = 'error' AND last_error LIKE 'site not found: %'`); n != len(b.conns) {
		t.Fatalf("%d connections record the missing site as not found, want %d", n, len(b.conns))
	}
	if n := b.count(t, "SELECT count(*) FROM connections WHERE status <> 'active'"); n != 0 {
		t.Fatalf("%d connections not active after a missing site", n)
	}

	library := 0
	for i := 0; i < 40 && library < 8; i++ {
		for _, what := range b.em.Mutate(100) {
			if strings.HasPrefix(what, "libraryItem ") {
				library++
			}
		}
	}
	if library < 8 {
		t.Fatalf("mutations changed only %d library items", library)
	}
	b.syncNow(t, 2*time.Minute)
	b.assertSitesMatchTruth(t)

	// Expired delta tokens: every library starts over as a full round.
	b.em.ExpireDeltaTokens()
	b.em.Mutate(100)
	b.em.ResetCounters()
	b.syncNow(t, 2*time.Minute)
	if gone := b.em.Counters().Requests["drives/{d}/root/delta"][410]; gone == 0 {
		t.Fatal("no library delta answered 410 after the tokens expired")
	}
	b.assertSitesMatchTruth(t)
}
