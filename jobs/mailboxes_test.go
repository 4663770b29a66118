package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/internal/verify"
	"github.com/graphsync/graphsync/store"
)

// A delegated connection syncs a mailbox shared with its user besides its
// own: the shared mailbox's mail (attachments included) and calendar equal
// its owner's ground truth, in rows and streams tagged with the mailbox,
// after the first sync, after mutations and after a 410. A share
// withdrawn makes the mailbox's state no_access, not the connection's,
// while its own mailbox goes on; shared again, the mailbox catches up.
func TestSharedMailboxMatchesGroundTruth(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{Users: 2, MessagesPerUser: 80, EventsPerUser: 20, SharedMailboxes: 1},
		resources: []string{"mail", "calendar"}, extraScopes: []string{"Mail.Read.Shared", "Calendars.Read.Shared"}})
	ctx := context.Background()
	// User 0 shares mail and calendar with user 1.
	owner, delegate := b.conns[0], b.conns[1]
	if err := b.store.AddMailbox(ctx, delegate.ID, store.Mailbox{UserID: owner.UserID, Address: owner.UserPrincipalName}); err != nil {
		t.Fatal(err)
	}
	shared := func() {
		t.Helper()
		for _, r := range []string{"mail", "calendar"} {
			results, err := verify.Resource(ctx, b.store.Pool(), b.em.URL(), delegate.ID, owner.UserID, r)
			if err != nil {
				t.Fatal(err)
			}
			assertResults(t, delegate.ID, results)
		}
	}
	own := func() {
		t.Helper()
		b.assertMatchesTruth(t, "mail")
		b.assertMatchesTruth(t, "calendar")
	}
	status := func(want string) {
		t.Helper()
		ms, err := b.store.Mailboxes(ctx, delegate.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) != 1 || ms[0].Status != want {
			t.Fatalf("mailboxes of the delegate's connection: %+v, want one %s", ms, want)
		}
		c, err := b.store.Connection(ctx, delegate.ID)
		if err != nil {
			t.Fatal(err)
		}
		if c.Status != store.StatusActive {
			t.Fatalf("the delegate's connection is %s (%s), want active", c.Status, c.LastError)
		}
	}

	b.syncNow(t, 2*time.Minute)
	own()
	shared()
	status(store.MailboxOK)
	if n := b.count(t, `SELECT count(*) FROM sync_state WHERE connection_id = $1 AND user_id = $2 AND resource IN ('mail', 'calendar') AND stream = ''`,
		delegate.ID, owner.UserID); n != 2 {
		t.Fatalf("the shared mailbox has %d top-level streams, want mail's and calendar's", n)
	}
	if n := b.count(t, `SELECT count(*) FROM mail_attachments WHERE connection_id = $1 AND user_id = $2`, delegate.ID, owner.UserID); n == 0 {
		t.Fatal("no attachment of the shared mailbox stored")
	}

	b.em.Mutate(150)
	b.syncNow(t, 2*time.Minute)
	own()
	shared()

	// The share withdrawn: the mailbox is refused, the connection is not.
	if err := b.em.UnshareMailbox(owner.UserID, delegate.UserID); err != nil {
		t.Fatal(err)
	}
	b.em.Mutate(60)
	b.syncNow(t, 2*time.Minute)
	own()
	status(store.MailboxNoAccess)
	if n := b.count(t, `SELECT count(*) FROM sync_state WHERE connection_id = $1 AND user_id = $2 AND stream = '' AND status = 'error'
		AND last_error LIKE 'no access to the shared mailbox%'`, delegate.ID, owner.UserID); n == 0 {
		t.Fatal("the refused mailbox's streams record no error")
	}

	// Shared again, the same links carry on.
	if err := b.em.ShareMailbox(emulator.MailboxShare{Owner: owner.UserID, Delegate: delegate.UserID, Mail: true, Calendar: true}); err != nil {
		t.Fatal(err)
	}
	b.syncNow(t, 2*time.Minute)
	own()
	shared()
	status(store.MailboxOK)

	b.em.ExpireDeltaTokens()
	b.syncNow(t, 2*time.Minute)
	own()
	shared()

	// Removed, the mailbox's rows are retired and its streams gone.
	if ok, err := b.store.RemoveMailbox(ctx, delegate.ID, owner.UserPrincipalName); err != nil || !ok {
		t.Fatalf("remove mailbox: %v, %v", ok, err)
	}
	b.syncNow(t, time.Minute)
	if n := b.count(t, `SELECT count(*) FROM mail_messages WHERE connection_id = $1 AND user_id = $2 AND deleted_at IS NULL`, delegate.ID, owner.UserID); n != 0 {
		t.Fatalf("%d messages of the removed mailbox live", n)
	}
	if n := b.count(t, `SELECT count(*) FROM sync_state WHERE connection_id = $1 AND user_id = $2`, delegate.ID, owner.UserID); n != 0 {
		t.Fatalf("%d streams of the removed mailbox", n)
	}
}
