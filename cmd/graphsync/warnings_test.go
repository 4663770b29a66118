package main

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

// What concerns every connection shows in `status` and `config check` as a
// warning: the app's credentials refused (until a token is issued again),
// a client secret about to expire, tokens the encryption key cannot open.
// Not parallel: the refusal moves the process's token metrics, which other
// tests of this package read.
func TestStatusAndConfigCheckWarn(t *testing.T) {
	expires := time.Now().Add(10 * 24 * time.Hour).UTC().Format(time.RFC3339)
	w := connectEmulated(t, emulator.Config{Seed: 9, Users: 1, MessagesPerUser: 5},
		map[string]string{"GRAPHSYNC_CLIENT_SECRET_EXPIRES_AT": expires}, []*graphsync.Resource{graphsync.Mail})
	ctx := context.Background()
	conn := w.conns[0]
	expireAccess := func() {
		t.Helper()
		if _, err := w.st.Pool().Exec(ctx, `UPDATE connections SET access_token_expires_at = now() WHERE id = $1`, conn.ID); err != nil {
			t.Fatal(err)
		}
	}

	// A command run with a wrong secret meets the refusal.
	expireAccess()
	wrong := maps.Clone(w.env)
	wrong["GRAPHSYNC_CLIENT_SECRET"] = "not-the-client-secret"
	code, out, errOut := runWith(t, wrong, "connections", "token", fmt.Sprint(conn.ID))
	if code == 0 {
		t.Fatalf("connections token with a wrong secret succeeded:\n%s", out)
	}

	// Tokens sealed under a key the configuration no longer holds.
	other, err := store.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	otherEnv := maps.Clone(w.env)
	otherEnv["GRAPHSYNC_ENCRYPTION_KEY"] = other
	file := writeFile(t, "other.jsonl", `{"tenant_id":"t-other","user_id":"u-other","refresh_token":"rt-other","scopes":["Mail.Read"],"resources":["mail"]}`+"\n")
	code, out, errOut = runWith(t, otherEnv, "connections", "import", file)
	wantCode(t, code, 0, out, errOut)
	var sealed int64
	if err := w.st.Pool().QueryRow(ctx, `SELECT id FROM connections WHERE tenant_id = 't-other'`).Scan(&sealed); err != nil {
		t.Fatal(err)
	}

	wants := []string{
		"refused graphsync's app credentials (invalid_client AADSTS7000215: the client secret is wrong",
		"the client secret expires on " + expires[:10],
		fmt.Sprintf("cannot open the tokens of 1 connection(s) (%d)", sealed),
	}
	code, out, errOut = w.run("status")
	wantCode(t, code, 0, out, errOut)
	wantContains(t, "status", out, wants...)
	code, out, errOut = w.run("config", "check")
	wantCode(t, code, 0, out, errOut)
	wantContains(t, "config check", out, append([]string{"3 warning(s):"}, wants...)...)

	// Fixed: the next token issued clears the refusal.
	expireAccess()
	code, out, errOut = w.run("connections", "token", fmt.Sprint(conn.ID))
	wantCode(t, code, 0, out, errOut)
	code, out, errOut = w.run("status")
	wantCode(t, code, 0, out, errOut)
	wantNotContains(t, "status once the secret is right", out, "refused graphsync's app credentials")
	wantContains(t, "status once the secret is right", out, wants[1:]...)
}
