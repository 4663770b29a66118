package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/identity"
	"github.com/graphsync/graphsync/store"
)

// signInWith runs the authorization code flow against the emulator with
// the given scopes and saves the connection.
func signInWith(t *testing.T, st *store.Store, cfg identity.Config, upn string, scopes []string) *store.Connection {
	t.Helper()
	ctx := t.Context()
	auth, err := identity.NewAuth(cfg)
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
	conn, err := st.SaveConnection(ctx, &store.Connection{Kind: store.KindDelegated, TenantID: tok.TenantID, UserID: tok.ObjectID,
		UserPrincipalName: tok.Username, Scopes: tok.Scopes, Resources: []*graphsync.Resource{graphsync.Drive}},
		store.Tokens{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, Expiry: tok.Expiry})
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// audience reads the aud claim of a JWT without checking it.
func audience(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(strings.TrimSpace(token), ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct{ Aud string }
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c.Aud
}

func TestConnectionsToken(t *testing.T) {
	t.Parallel()
	const clientID, secret, redirect = "graphsync-token", "token-client-secret-value", "http://127.0.0.1:1/callback"
	b := setup(t)
	em, err := emulator.Start(emulator.Config{Seed: 7, Users: 2, MessagesPerUser: 1, DriveItemsPerUser: 3,
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
	auth := identity.Config{LoginURL: em.URL(), Tenant: "common", ClientID: clientID, ClientSecret: secret, RedirectURL: redirect}
	driveScopes := graphsync.DelegatedScopes([]*graphsync.Resource{graphsync.Drive})
	users := em.Users()
	sp := signInWith(t, st, auth, users[0].UserPrincipalName, append(driveScopes, "Sites.Read.All"))
	plain := signInWith(t, st, auth, users[1].UserPrincipalName, driveScopes)
	id := strconv.FormatInt(sp.ID, 10)

	code, out, errOut := b.run("connections", "token", id, "--resource", "sharepoint")
	wantCode(t, code, 0, out, errOut)
	first := strings.TrimSpace(out)
	if aud := audience(t, first); aud != "https://contoso.sharepoint.com" {
		t.Fatalf("SharePoint token audience %q", aud)
	}
	wantNotContains(t, "output", out+errOut, secret)

	// A fresh token is printed again as is; one about to expire is
	// redeemed anew.
	code, out, errOut = b.run("connections", "token", id, "--resource", "sharepoint")
	wantCode(t, code, 0, out, errOut)
	if strings.TrimSpace(out) != first {
		t.Fatal("a fresh SharePoint token was redeemed again")
	}
	if _, err := st.Pool().Exec(context.Background(), `UPDATE connections SET sharepoint_token_expires_at = now() + interval '1 minute' WHERE id = $1`, sp.ID); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = b.run("connections", "token", id, "--resource", "sharepoint")
	wantCode(t, code, 0, out, errOut)
	if second := strings.TrimSpace(out); second == first || audience(t, second) != "https://contoso.sharepoint.com" {
		t.Fatal("the SharePoint token about to expire was not redeemed anew")
	}

	// Graph is the default resource.
	code, out, errOut = b.run("connections", "token", id)
	wantCode(t, code, 0, out, errOut)
	if aud := audience(t, out); aud != "https://graph.microsoft.com" {
		t.Fatalf("Graph token audience %q", aud)
	}

	code, out, errOut = b.run("connections", "token", strconv.FormatInt(plain.ID, 10), "--resource", "sharepoint")
	wantCode(t, code, 1, out, errOut)
	wantContains(t, "stderr", errOut, "Sites.Read.All")
	if out != "" {
		t.Fatalf("printed %q for a connection without SharePoint access", out)
	}

	code, out, errOut = b.run("connections", "token", id, "--resource", "exchange")
	wantCode(t, code, 2, out, errOut)
	code, out, errOut = b.run("connections", "token")
	wantCode(t, code, 2, out, errOut)
}
