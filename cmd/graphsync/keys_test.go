package main

import (
	"strings"
	"testing"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

func TestKeysGenerateAndRotate(t *testing.T) {
	t.Parallel()
	b := setup(t)
	st := b.store()
	cn, err := st.SaveConnection(t.Context(), &store.Connection{
		Kind: store.KindDelegated, TenantID: "t", UserID: "u", Resources: []*graphsync.Resource{graphsync.Mail},
	}, store.Tokens{RefreshToken: "rt-rotate"})
	if err != nil {
		t.Fatal(err)
	}

	code, out, errOut := b.run("keys", "generate")
	wantCode(t, code, 0, out, errOut)
	newKey := strings.TrimSpace(out)
	if _, err := store.ParseKeyring(newKey); err != nil || newKey == b.key {
		t.Fatalf("keys generate printed %q: %v", newKey, err)
	}

	b.env["GRAPHSYNC_ENCRYPTION_KEY"] = newKey + "," + b.key
	code, out, errOut = b.run("keys", "rotate")
	wantCode(t, code, 0, out, errOut)
	wantContains(t, "keys rotate", out, "re-encrypted 1 connection(s)")
	wantNotContains(t, "keys rotate", out+errOut, newKey, b.key, "rt-rotate")

	// The token now opens with the new key alone.
	kr, err := store.ParseKeyring(newKey)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := st.WithKeys(kr).Tokens(t.Context(), cn.ID)
	if err != nil || tok.RefreshToken != "rt-rotate" {
		t.Fatalf("token after rotation: matches %v, err %v", tok.RefreshToken == "rt-rotate", err)
	}
}
