package main

import (
	"strings"
	"testing"
	"time"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

// TestAPIKeys creates, lists and revokes keys: the key is printed once
// and works, the list never shows it, a revoked key is refused, and bad
// flags are usage errors naming what is wrong.
func TestAPIKeys(t *testing.T) {
	t.Parallel()
	b := setup(t)
	st := b.store()
	cn, err := st.SaveConnection(t.Context(), &store.Connection{
		Kind: store.KindDelegated, TenantID: "t", UserID: "u", Resources: []*graphsync.Resource{graphsync.Mail},
	}, store.Tokens{RefreshToken: "rt"})
	if err != nil {
		t.Fatal(err)
	}

	code, out, errOut := b.run("apikeys", "create", "--name", "crm", "--connections", itoa(cn.ID), "--scopes", "token,proxy", "--expires", "30d")
	wantCode(t, code, 0, out, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	key := lines[len(lines)-1]
	k, err := st.AuthenticateAPIKey(t.Context(), key)
	if err != nil || k.Name != "crm" || !k.Covers(cn.ID) || k.Covers(cn.ID+1) || !k.Allows(store.ScopeProxy) || k.Allows(store.ScopeChanges) {
		t.Fatalf("created key %+v: %v", k, err)
	}
	if k.ExpiresAt == nil || time.Until(*k.ExpiresAt) < 29*24*time.Hour {
		t.Errorf("expiry %v, want in 30 days", k.ExpiresAt)
	}

	code, out, errOut = b.run("apikeys", "list")
	wantCode(t, code, 0, out, errOut)
	wantContains(t, "apikeys list", out, "crm", "token,proxy", "active", "gsk_"+k.Prefix)
	wantNotContains(t, "apikeys list", out, key)

	code, out, errOut = b.run("apikeys", "revoke", itoa(k.ID))
	wantCode(t, code, 0, out, errOut)
	if _, err := st.AuthenticateAPIKey(t.Context(), key); err != store.ErrKeyRevoked {
		t.Errorf("revoked key authenticates: %v", err)
	}
	code, out, _ = b.run("apikeys", "list")
	wantCode(t, code, 0, out, "")
	wantContains(t, "apikeys list after revoke", out, "revoked")

	for _, bad := range [][]string{
		{"apikeys", "create", "--all"},
		{"apikeys", "create", "--name", "x", "--all", "--connections", itoa(cn.ID)},
		{"apikeys", "create", "--name", "x", "--all", "--scopes", "admin"},
		{"apikeys", "create", "--name", "x", "--connections", "999999"},
		{"apikeys", "create", "--name", "x", "--all", "--expires", "yesterday"},
		{"apikeys", "revoke", "zero"},
	} {
		code, out, errOut := b.run(bad...)
		wantCode(t, code, 2, out, errOut)
	}
	code, out, errOut = b.run("apikeys", "revoke", "999999")
	wantCode(t, code, 1, out, errOut)
	wantContains(t, "revoke unknown", errOut, "does not exist")
}
