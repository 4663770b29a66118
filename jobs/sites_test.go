package jobs_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/internal/verify"
	"github.com/graphsync/graphsync/internal/worker"
)

// changePermissions shares, through an anonymous link, an item of a drive
// of the truth (drivePermissions or sitePermissions) that inherits its
// permissions, and removes a sharing permission an item holds itself; it
// returns item/permission of both.
func (b *bundle) changePermissions(t *testing.T, resource string) (added, removed [2]string) {
	t.Helper()
	perms := b.truthPermissions(t, resource)
	var drive string
	for _, p := range perms {
		if p.Item == p.From && len(p.Link) > 0 && removed[0] == "" {
			if err := b.em.RemovePermission(p.Drive, p.Item, p.ID); err != nil {
				t.Fatal(err)
			}
			removed, drive = [2]string{p.Item, p.ID}, p.Drive
		}
	}
	for _, p := range perms {
		if p.Item != p.From && p.Drive == drive && p.Item != removed[0] && added[0] == "" {
			id, err := b.em.AddPermission(p.Drive, p.Item, emulator.PermissionSpec{Kind: "link", LinkType: "view", Scope: "anonymous"})
			if err != nil {
				t.Fatal(err)
			}
			added = [2]string{p.Item, id}
		}
	}
	if added[0] == "" || removed[0] == "" {
		t.Fatalf("no permission to add (%v) or remove (%v)", added, removed)
	}
	return added, removed
}

// assertPermissionChanged checks that the added permission is live, on its
// item's own, reaching outside the tenant, and the removed one deleted, in
// every connection syncing the items (each library is synced by every
// connection, a OneDrive by its owner's).
func (b *bundle) assertPermissionChanged(t *testing.T, added, removed [2]string) {
	t.Helper()
	holders := func(item string) int {
		n := b.count(t, `SELECT count(*) FROM drive_items WHERE id = $1 AND deleted_at IS NULL`, item)
		if n == 0 {
			t.Fatalf("no connection holds item %s", item)
		}
		return n
	}
	if n, want := b.count(t, `SELECT count(*) FROM drive_item_permissions WHERE item_id = $1 AND id = $2 AND deleted_at IS NULL
		AND kind = 'link' AND link_scope = 'anonymous' AND reaches_outside`, added[0], added[1]), holders(added[0]); n != want {
		t.Fatalf("added permission %v stored live %d times, want %d", added, n, want)
	}
	if n, want := b.count(t, `SELECT count(*) FROM drive_item_access WHERE item_id = $1 AND permission_id = $2 AND NOT inherited`,
		added[0], added[1]), holders(added[0]); n != want {
		t.Fatalf("added permission %v applies %d times, want %d", added, n, want)
	}
	if n, want := b.count(t, `SELECT count(*) FROM drive_item_permissions WHERE item_id = $1 AND id = $2 AND deleted_at IS NOT NULL`,
		removed[0], removed[1]), holders(removed[0]); n != want {
		t.Fatalf("removed permission %v marked deleted %d times, want %d", removed, n, want)
	}
}

// truthPermission is an entry of a permissions truth (drivePermissions or
// sitePermissions).
type truthPermission struct {
	ID    string          `json:"id"`
	Link  json.RawMessage `json:"link"`
	Drive string          `json:"@emulator.driveId"`
	Item  string          `json:"@emulator.itemId"`
	From  string          `json:"@emulator.inheritedFrom"`
}

// truthPermissions reads a permissions truth.
func (b *bundle) truthPermissions(t *testing.T, resource string) []truthPermission {
	t.Helper()
	var perms []truthPermission
	for _, raw := range b.truth(t, b.em.Users()[0].ID, resource) {
		var p truthPermission
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatal(err)
		}
		perms = append(perms, p)
	}
	return perms
}

// sharer returns the drive and id of an item of the truth holding a
// sharing link of its own, other than those of not.
func (b *bundle) sharer(t *testing.T, resource string, not ...string) (drive, item string) {
	t.Helper()
	for _, p := range b.truthPermissions(t, resource) {
		if p.Item == p.From && len(p.Link) > 0 && !slices.Contains(not, p.Item) {
			return p.Drive, p.Item
		}
	}
	t.Fatalf("no item of %s holds a sharing link of its own", resource)
	return "", ""
}

// assertOwnsNone checks that no connection keeps a live permission of
// item's own; when it is live, that it inherits every permission that
// applies to it.
func (b *bundle) assertOwnsNone(t *testing.T, item string) {
	t.Helper()
	if n := b.count(t, `SELECT count(*) FROM drive_item_permissions WHERE item_id = $1 AND deleted_at IS NULL`, item); n != 0 {
		t.Fatalf("item %s keeps %d live permissions of its own", item, n)
	}
	if n := b.count(t, `SELECT count(*) FROM drive_item_permissions WHERE item_id = $1 AND deleted_at IS NOT NULL`, item); n == 0 {
		t.Fatalf("item %s never had permissions of its own: the check proves nothing", item)
	}
	if n := b.count(t, `SELECT count(*) FROM drive_item_access WHERE item_id = $1 AND NOT inherited`, item); n != 0 {
		t.Fatalf("%d permissions apply to item %s as its own", n, item)
	}
}

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
		resources: []string{"sites"}, sites: selectedSites, application: true,
		// Permission reads cost 5 resource units each: a budget that
		// keeps the test short.
		worker: func(c *worker.Config) { c.Graph.DriveUnitsPerMinute = 60000 }})
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

	// A permission added to an item that inherited, and one removed from
	// an item holding its own, show after the next sync.
	added, removed := b.changePermissions(t, "sitePermissions")
	b.syncNow(t, 2*time.Minute)
	b.assertSitesMatchTruth(t)
	b.assertPermissionChanged(t, added, removed)

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

// An application connection with sites enabled but no site selected
// (GRAPHSYNC_SITES empty) has nothing to read: its sites pass succeeds,
// stores nothing, and the resource is not left never synced.
func TestSitesWithNoneSelectedSucceed(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{Users: 1, MessagesPerUser: 1}, resources: []string{"sites"}, application: true})
	b.syncNow(t, time.Minute)
	if n := b.count(t, `SELECT count(*) FROM sync_state WHERE resource = 'sites' AND user_id = '' AND stream = ''
		AND status = 'ok' AND last_success_at IS NOT NULL`); n != 1 {
		t.Fatalf("%d sites passes recorded a success, want 1", n)
	}
	if n := b.count(t, "SELECT (SELECT count(*) FROM sites) + (SELECT count(*) FROM site_drives)"); n != 0 {
		t.Fatalf("%d site rows with no site selected", n)
	}
}
