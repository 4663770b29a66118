package jobs_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/identity"
	"github.com/graphsync/graphsync/internal/verify"
	"github.com/graphsync/graphsync/store"
	"github.com/graphsync/graphsync/token"
)

// assertDriveMatchesTruth compares every connection's live drive items,
// paths included, with the emulator's ground truth.
func (b *bundle) assertDriveMatchesTruth(t *testing.T) {
	t.Helper()
	for _, c := range b.conns {
		results, err := verify.Drive(context.Background(), b.store.Pool(), b.em.URL(), c.ID, c.UserID)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range results {
			if len(r.Diffs) > 0 {
				t.Fatalf("connection %d %s differs from ground truth (%d truth, %d rows):\n%v", c.ID, r.Table, r.Truth, r.Rows, r.Diffs)
			}
			if r.Truth < 2 {
				t.Fatalf("ground truth of %s has %d items; the comparison proves nothing", r.Table, r.Truth)
			}
		}
	}
}

// movedFolders counts the folders with items below them that the
// mutations renamed or moved: the cases whose descendants' paths change
// without delta reporting them.
func (b *bundle) movedFolders(t *testing.T, changes []string) int {
	t.Helper()
	parents := map[string]bool{}
	for _, u := range b.em.Users() {
		for _, raw := range b.truth(t, u.ID, "driveItems") {
			var o struct {
				ParentReference struct{ ID string } `json:"parentReference"`
			}
			if err := json.Unmarshal(raw, &o); err != nil {
				t.Fatal(err)
			}
			parents[o.ParentReference.ID] = true
		}
	}
	n := 0
	for _, c := range changes {
		for _, prefix := range []string{"driveItem renamed ", "driveItem moved "} {
			if id, ok := strings.CutPrefix(c, prefix); ok && parents[id] {
				n++
			}
		}
	}
	return n
}

func TestDriveSyncMatchesGroundTruth(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{Users: 2, MessagesPerUser: 5, DriveItemsPerUser: 450}, resources: []string{"drive"}})
	b.syncNow(t, time.Minute)
	b.assertDriveMatchesTruth(t)
	if n := b.count(t, `SELECT count(*) FROM drive_items WHERE is_root AND path = '/'`); n != len(b.conns) {
		t.Fatalf("%d roots with path /, want %d", n, len(b.conns))
	}
	if n := b.count(t, `SELECT coalesce(max(pages), 0) FROM sync_state WHERE resource = 'drive'`); n < 2 {
		t.Fatalf("the initial round took %d page(s); the test wants several to cross page boundaries", n)
	}

	// A permission added to a OneDrive item that inherited, and one removed
	// from an item holding its own, show after the next sync.
	added, removed := b.changePermissions(t, "drivePermissions")
	b.syncNow(t, time.Minute)
	b.assertDriveMatchesTruth(t)
	b.assertPermissionChanged(t, added, removed)

	// An item that held permissions of its own and inherits again keeps
	// none: delta reports it without the shared facet, and its permissions
	// list would hold what it inherits.
	drive, item := b.sharer(t, "drivePermissions")
	if err := b.em.RestoreInheritance(drive, item); err != nil {
		t.Fatal(err)
	}
	b.syncNow(t, time.Minute)
	b.assertDriveMatchesTruth(t)
	b.assertOwnsNone(t, item)
	if n := b.count(t, `SELECT count(*) FROM drive_item_access WHERE item_id = $1`, item); n == 0 {
		t.Fatalf("no permission applies to item %s, which inherits", item)
	}
	// A deleted item's permissions go with it.
	drive, item = b.sharer(t, "drivePermissions")
	if err := b.em.DeleteDriveItem(drive, item); err != nil {
		t.Fatal(err)
	}
	b.syncNow(t, time.Minute)
	b.assertDriveMatchesTruth(t)
	b.assertOwnsNone(t, item)

	// Renames and moves of folders change the paths of everything below
	// them; delta reports only the folder itself and the parents whose
	// children changed.
	changes := b.em.Mutate(900)
	if n := b.movedFolders(t, changes); n == 0 {
		t.Fatal("the mutations renamed or moved no folder with items; the path test proves nothing")
	}
	b.syncNow(t, time.Minute)
	b.assertDriveMatchesTruth(t)
	if n := b.count(t, `SELECT count(*) FROM drive_items WHERE deleted_at IS NOT NULL`); n == 0 {
		t.Fatal("no drive item was deleted; the mutations prove nothing about deletions")
	}

	// An idle pass changes nothing.
	before := b.count(t, "SELECT count(*) FROM drive_items WHERE synced_at > now() - interval '1 hour'")
	b.syncNow(t, time.Minute)
	after := b.count(t, "SELECT count(*) FROM drive_items WHERE synced_at > now() - interval '1 hour'")
	if before != after {
		t.Fatalf("idle pass rewrote rows: %d -> %d", before, after)
	}

	// OneDrive answers 410 with a Location header once the token expires;
	// changes made meanwhile come only from the full enumeration.
	// An item holding permissions deleted meanwhile is retired by the full
	// round, and its permissions with it.
	b.em.ExpireDeltaTokens()
	drive, item = b.sharer(t, "drivePermissions")
	if err := b.em.DeleteDriveItem(drive, item); err != nil {
		t.Fatal(err)
	}
	b.em.Mutate(300)
	b.syncNow(t, time.Minute)
	b.assertDriveMatchesTruth(t)
	b.assertOwnsNone(t, item)
	if n := b.count(t, `SELECT coalesce(sum(resyncs), 0) FROM sync_state WHERE resource = 'drive'`); n == 0 {
		t.Fatal("no drive stream recorded a resync after the delta tokens expired")
	}
	if n := b.count(t, `SELECT count(*) FROM sync_state WHERE resource = 'drive' AND (next_link IS NOT NULL OR full_round)`); n != 0 {
		t.Fatalf("%d drive streams left a round open", n)
	}

	// And it goes on incrementally.
	b.em.Mutate(300)
	b.syncNow(t, time.Minute)
	b.assertDriveMatchesTruth(t)
}

// connectWithScopes signs a user in through the authorization code flow with
// the given scopes (connect asks only for the resources' own) and saves the
// connection, syncing the drive.
func (b *bundle) connectWithScopes(t *testing.T, upn string, scopes []string) *store.Connection {
	t.Helper()
	ctx := context.Background()
	auth, err := identity.NewAuth(b.auth)
	if err != nil {
		t.Fatal(err)
	}
	verifier := oauth2.GenerateVerifier()
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(auth.AuthCodeURL("s", verifier, scopes, identity.AuthURLOptions{LoginHint: upn}))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("authorize: %d, redirect %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	tok, err := auth.Exchange(ctx, loc.Query().Get("code"), verifier, scopes)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := b.store.SaveConnection(ctx, &store.Connection{Kind: store.KindDelegated, TenantID: tok.TenantID, UserID: tok.ObjectID,
		UserPrincipalName: tok.Username, Scopes: tok.Scopes, Resources: []*graphsync.Resource{graphsync.Drive}},
		store.Tokens{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, Expiry: tok.Expiry})
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// jwtClaim reads one claim of a JWT without checking it.
func jwtClaim(t *testing.T, token, claim string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT (%d parts)", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	s, _ := m[claim].(string)
	return s
}

func TestDriveSharePointToken(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{Users: 2, MessagesPerUser: 1, DriveItemsPerUser: 5}, resources: []string{"drive"}})
	ctx := context.Background()
	users := b.em.Users()
	sp := b.connectWithScopes(t, users[0].UserPrincipalName,
		append(graphsync.DelegatedScopes([]*graphsync.Resource{graphsync.Drive}), "Sites.Read.All"))
	plain := b.conns[1] // Files.Read.All only

	// A drive sync redeems the SharePoint token of the connection granted
	// Sites.Read.All, and of no other.
	b.syncNow(t, time.Minute)
	var resource string
	var expires time.Time
	if err := b.store.Pool().QueryRow(ctx, `SELECT sharepoint_resource, sharepoint_token_expires_at FROM connections WHERE id = $1`,
		sp.ID).Scan(&resource, &expires); err != nil {
		t.Fatalf("no SharePoint token stored after the drive sync: %v", err)
	}
	if resource != "https://contoso.sharepoint.com" || time.Until(expires) < 30*time.Minute {
		t.Fatalf("SharePoint token for %q expiring %s", resource, expires)
	}
	if n := b.count(t, `SELECT count(*) FROM connections WHERE sharepoint_token_enc IS NOT NULL`); n != 1 {
		t.Fatalf("%d connections hold a SharePoint token, want 1", n)
	}
	if n := b.count(t, `SELECT count(*) FROM connections WHERE position(convert_to('eyJ', 'UTF8') in sharepoint_token_enc) > 0`); n != 0 {
		t.Fatal("the SharePoint token is stored in plaintext")
	}
	first := b.token(t, sp.ID, token.SharePoint)
	if aud := jwtClaim(t, first, "aud"); aud != resource {
		t.Fatalf("SharePoint token audience %q, want %q", aud, resource)
	}
	if again := b.token(t, sp.ID, token.SharePoint); again != first {
		t.Fatal("a fresh SharePoint token was redeemed again")
	}

	// Near expiry, it is redeemed anew, and the rotated refresh token
	// still serves Graph.
	if _, err := b.store.Pool().Exec(ctx, `UPDATE connections SET sharepoint_token_expires_at = now() + interval '1 minute' WHERE id = $1`, sp.ID); err != nil {
		t.Fatal(err)
	}
	second := b.token(t, sp.ID, token.SharePoint)
	if second == first || jwtClaim(t, second, "aud") != resource {
		t.Fatal("the SharePoint token near expiry was not redeemed anew")
	}
	b.expireAccessTokens(t)
	graphToken := b.token(t, sp.ID, token.Graph)
	if aud := jwtClaim(t, graphToken, "aud"); aud != "https://graph.microsoft.com" {
		t.Fatalf("Graph token audience %q", aud)
	}
	b.em.Mutate(50)
	b.syncNow(t, time.Minute)
	b.conns = []*store.Connection{sp}
	b.assertDriveMatchesTruth(t)

	// Without Sites.Read.All there is no SharePoint token.
	if _, _, err := b.w.Tokens.Get(ctx, plain.ID, token.SharePoint); !errors.Is(err, token.ErrNoSharePoint) {
		t.Fatalf("SharePoint token of a connection without Sites.Read.All: %v, want ErrNoSharePoint", err)
	}
}

func TestDriveQuarantinesUndecodableItem(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{Users: 1, MessagesPerUser: 1, DriveItemsPerUser: 40}, resources: []string{"drive"}})
	c := b.conns[0]
	poison, err := b.em.AddPoisonDriveItem(c.UserID)
	if err != nil {
		t.Fatal(err)
	}
	b.syncNow(t, time.Minute)
	// Everything but the poison item is stored: the rest of its page and
	// of the sync went on.
	results, err := verify.Drive(context.Background(), b.store.Pool(), b.em.URL(), c.ID, c.UserID)
	if err != nil {
		t.Fatal(err)
	}
	if d := results[0].Diffs; len(d) != 1 || d[0] != "missing "+poison {
		t.Fatalf("differences from the truth: %v, want only the poison item missing", d)
	}
	if n := b.count(t, `SELECT count(*) FROM quarantine WHERE resource = 'drive' AND item_id = $1 AND error LIKE '%size%'`, poison); n != 1 {
		t.Fatalf("poison item quarantined %d times, want once with a reason naming its size", n)
	}
	if n := b.count(t, `SELECT count(*) FROM sync_state WHERE resource = 'drive' AND status <> 'ok'`); n != 0 {
		t.Fatalf("%d drive streams not ok after a quarantined record", n)
	}
}

// token gets a connection's access token of kind through the token source.
func (b *bundle) token(t *testing.T, connectionID int64, kind token.Kind) string {
	t.Helper()
	tok, _, err := b.w.Tokens.Get(context.Background(), connectionID, kind)
	if err != nil {
		t.Fatalf("%s token of connection %d: %v", kind, connectionID, err)
	}
	return tok
}
