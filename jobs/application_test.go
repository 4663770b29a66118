package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/verify"
	"github.com/graphsync/graphsync/store"
)

// An application connection discovers the tenant's users through
// users/delta and syncs each user's mailbox under the one connection; a user
// removed from the tenant has their rows retired and their streams stopped
// while the others go on.
func TestApplicationConnectionSyncsEveryUser(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{Users: 3, MessagesPerUser: 120}, application: true, resources: graphsync.Names(graphsync.Resources)})
	if len(b.conns) != 1 {
		t.Fatalf("%d connections, want one for the tenant", len(b.conns))
	}
	conn := b.conns[0]
	if conn.Kind != store.KindApplication || conn.UserID != "" || conn.TenantID != b.em.TenantID() {
		t.Fatalf("connection %+v is not the tenant's application connection", conn)
	}
	if tok, err := b.store.Tokens(context.Background(), conn.ID); err != nil || tok.AccessToken == "" || tok.RefreshToken != "" {
		t.Fatalf("application tokens: access set %t, refresh set %t, err %v (want an app-only token, no refresh token)",
			tok.AccessToken != "", tok.RefreshToken != "", err)
	}

	b.syncNow(t, 2*time.Minute)
	users := b.em.Users()
	if n := b.count(t, "SELECT count(*) FROM directory_users WHERE connection_id = $1 AND deleted_at IS NULL", conn.ID); n != len(users) {
		t.Fatalf("%d users discovered, the tenant has %d", n, len(users))
	}
	// Discovery keeps its deltaLink: the next pass asks only for changes.
	if n := b.count(t, "SELECT count(*) FROM sync_state WHERE connection_id = $1 AND resource = 'users' AND delta_link IS NOT NULL", conn.ID); n != 1 {
		t.Fatalf("user discovery stored %d deltaLinks, want 1", n)
	}
	b.assertTenantMatchesTruth(t, conn)

	b.em.Mutate(120)
	b.elapse(editCheck)
	b.syncNow(t, 2*time.Minute)
	b.assertTenantMatchesTruth(t, conn)

	gone := users[0].ID
	if !b.em.RemoveUser(gone) {
		t.Fatal("emulator did not remove the user")
	}
	b.syncNow(t, 2*time.Minute)
	// A job of the removed user queued with this pass may still have
	// written a stream after discovery stopped the others; the next
	// discovery stops it.
	b.syncNow(t, 2*time.Minute)
	if n := b.count(t, "SELECT count(*) FROM directory_users WHERE connection_id = $1 AND id = $2 AND deleted_at IS NOT NULL", conn.ID, gone); n != 1 {
		t.Fatal("the removed user is not marked deleted")
	}
	if n := b.count(t, "SELECT count(*) FROM mail_messages WHERE connection_id = $1 AND user_id = $2 AND deleted_at IS NULL", conn.ID, gone); n != 0 {
		t.Fatalf("%d messages of the removed user are still live", n)
	}
	if n := b.count(t, "SELECT count(*) FROM mail_messages WHERE connection_id = $1 AND user_id = $2", conn.ID, gone); n == 0 {
		t.Fatal("the removed user's messages were never synced; the retirement proves nothing")
	}
	for _, table := range []string{"calendar_events", "drive_items", "people", "contacts"} {
		if n := b.count(t, "SELECT count(*) FROM "+table+" WHERE connection_id = $1 AND user_id = $2 AND deleted_at IS NULL", conn.ID, gone); n != 0 {
			t.Errorf("%d %s rows of the removed user are still live", n, table)
		}
	}
	if n := b.count(t, `SELECT count(*) FROM sync_state WHERE connection_id = $1 AND user_id = $2 AND status <> 'stopped'`, conn.ID, gone); n != 0 {
		t.Fatalf("%d streams of the removed user are not stopped", n)
	}
	b.assertTenantMatchesTruth(t, conn)

	// The scheduler queues nothing for the removed user.
	due, err := b.store.DueSyncs(context.Background(), 0, 0, conn.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range due {
		if d.User == gone {
			t.Fatalf("sync of the removed user is due: %+v", d)
		}
	}

	// Restored within 30 days, the user is synced again in full: rows that
	// still exist are live again, streams resume.
	if !b.em.RestoreUser(gone) {
		t.Fatal("emulator did not restore the user")
	}
	b.syncNow(t, 2*time.Minute)
	if n := b.count(t, `SELECT count(*) FROM sync_state WHERE connection_id = $1 AND user_id = $2 AND status = 'stopped'`, conn.ID, gone); n != 0 {
		t.Fatalf("%d streams of the restored user are still stopped", n)
	}
	b.assertTenantMatchesTruth(t, conn)
}

// assertTenantMatchesTruth compares each live user's resources under the
// application connection with the emulator's ground truth.
func (b *bundle) assertTenantMatchesTruth(t *testing.T, conn *store.Connection) {
	t.Helper()
	for _, u := range b.em.Users() {
		for _, res := range conn.Resources {
			results, err := verify.Resource(context.Background(), b.store.Pool(), b.em.URL(), conn.ID, u.ID, res.Name())
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range results {
				if len(r.Diffs) > 0 {
					t.Fatalf("user %s %s differs from ground truth (%d truth, %d rows):\n%v", u.UserPrincipalName, r.Table, r.Truth, r.Rows, r.Diffs)
				}
			}
		}
	}
}

// An application connection has no refresh token: an expired app-only token
// is replaced through the client-credentials grant on the tenant's endpoint.
func TestApplicationTokenIsReacquired(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{Users: 2, MessagesPerUser: 40, AccessTokenLifetime: time.Second}, application: true})
	conn := b.conns[0]
	before, err := b.store.Tokens(context.Background(), conn.ID)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // the first token has expired
	b.syncNow(t, 2*time.Minute)
	b.assertTenantMatchesTruth(t, conn)
	after, err := b.store.Tokens(context.Background(), conn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if after.AccessToken == before.AccessToken {
		t.Fatal("the expired app-only token was not replaced")
	}
	if after.RefreshToken != "" {
		t.Fatal("an application connection stored a refresh token")
	}
	if n := b.count(t, "SELECT count(*) FROM connections WHERE id = $1 AND status = 'active'", conn.ID); n != 1 {
		t.Fatal("re-acquiring the token changed the connection's status")
	}
}
