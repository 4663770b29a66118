package main

import (
	"strconv"
	"testing"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/identity"
)

// `connections mailboxes` adds a mailbox by address, naming it by its
// owner's user id from the directory, only to a connection granted the
// shared permissions (saying how to grant them otherwise); status warns of
// a mailbox Graph refused; --remove stops syncing it.
func TestConnectionsMailboxes(t *testing.T) {
	t.Parallel()
	const clientID, secret, redirect = "graphsync-mailboxes", "mailboxes-client-secret-value", "http://127.0.0.1:1/callback"
	b := setup(t)
	em, err := emulator.Start(emulator.Config{Seed: 9, Users: 2, MessagesPerUser: 1, SharedMailboxes: 1,
		Apps: []emulator.App{{ClientID: clientID, Secret: secret, RedirectURIs: []string{redirect}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { em.Close() })
	b.env["GRAPHSYNC_CLIENT_ID"] = clientID
	b.env["GRAPHSYNC_CLIENT_SECRET"] = secret
	b.env["GRAPHSYNC_GRAPH_URL"] = em.URL()
	b.env["GRAPHSYNC_LOGIN_URL"] = em.URL()
	b.env["GRAPHSYNC_REDIRECT_URL"] = redirect

	st := b.store()
	ctx := t.Context()
	auth := identity.Config{LoginURL: em.URL(), Tenant: "common", ClientID: clientID, ClientSecret: secret, RedirectURL: redirect}
	mail := []*graphsync.Resource{graphsync.Mail, graphsync.Calendar}
	users := em.Users()
	shared := signInWith(t, st, auth, users[1].UserPrincipalName, append(graphsync.DelegatedScopes(mail), "Mail.Read.Shared", "Calendars.Read.Shared", "User.ReadBasic.All"))
	plain := signInWith(t, st, auth, users[0].UserPrincipalName, graphsync.DelegatedScopes(mail))
	if _, err := st.Pool().Exec(ctx, `UPDATE connections SET resources = '{mail,calendar}'`); err != nil {
		t.Fatal(err)
	}
	id := strconv.FormatInt(shared.ID, 10)

	code, out, errOut := b.run("connections", "mailboxes", id, "--add", users[0].UserPrincipalName)
	wantCode(t, code, 0, out, errOut)
	wantContains(t, "mailboxes --add", out, "added mailbox "+users[0].UserPrincipalName+" (user "+users[0].ID+")", "MAILBOX", " ok")
	ms, err := st.Mailboxes(ctx, shared.ID)
	if err != nil || len(ms) != 1 || ms[0].UserID != users[0].ID {
		t.Fatalf("mailboxes stored: %+v, %v; want user %s", ms, err, users[0].ID)
	}

	code, out, errOut = b.run("connections", "mailboxes", strconv.FormatInt(plain.ID, 10), "--add", users[1].UserPrincipalName)
	wantCode(t, code, 2, out, errOut)
	wantContains(t, "mailboxes --add without the shared permissions", errOut, "Mail.Read.Shared", "--extra-scopes")

	code, out, errOut = b.run("connections", "mailboxes", id, "--add", users[1].UserPrincipalName)
	wantCode(t, code, 2, out, errOut)
	wantContains(t, "mailboxes --add of the connection's own mailbox", errOut, "own mailbox")

	if err := st.SetMailboxAccess(ctx, shared.ID, users[0].ID, false, "Access is denied."); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = b.run("status")
	wantContains(t, "status", out+errOut, "refused the shared mailbox "+users[0].UserPrincipalName, "Access is denied.")

	code, out, errOut = b.run("connections", "mailboxes", id, "--remove", users[0].UserPrincipalName)
	wantCode(t, code, 0, out, errOut)
	wantContains(t, "mailboxes --remove", out, "removed mailbox "+users[0].UserPrincipalName)
	if ms, err := st.Mailboxes(ctx, shared.ID); err != nil || len(ms) != 0 {
		t.Fatalf("mailboxes after --remove: %+v, %v", ms, err)
	}
}
