package connect_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/graphsync/graphsync/connect"
	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/identity"
	"github.com/graphsync/graphsync/internal/pgtest"
	"github.com/graphsync/graphsync/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const (
	clientID = "graphsync-connect-test"
	secret   = "connect-test-secret"
	redirect = "http://127.0.0.1:8976/callback"
	// other is registered too, for the token request that names another
	// redirect URI than its authorization did.
	other = "http://127.0.0.1:8977/callback"
)

type bundle struct {
	em    *emulator.Server
	store *store.Store
	auth  identity.Config
	user  emulator.User
}

func setup(t *testing.T) *bundle {
	t.Helper()
	em, err := emulator.Start(emulator.Config{Users: 1, MessagesPerUser: 1, Seed: 7,
		Apps: []emulator.App{{ClientID: clientID, Secret: secret, RedirectURIs: []string{redirect, other}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { em.Close() })
	return &bundle{em: em, store: pgtest.Store(t), user: em.Users()[0],
		auth: identity.Config{LoginURL: em.URL(), Tenant: "common", ClientID: clientID, ClientSecret: secret, RedirectURL: redirect}}
}

func (b *bundle) flow(t *testing.T, mod func(*connect.Config)) *connect.Flow {
	t.Helper()
	cfg := connect.Config{Store: b.store, Auth: b.auth, Resources: []*graphsync.Resource{graphsync.Mail}, LoginHint: b.user.UserPrincipalName}
	if mod != nil {
		mod(&cfg)
	}
	f, err := connect.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// authorize opens an authorize URL as a browser would and returns the
// redirect the identity platform answers with, without following it.
func authorize(t *testing.T, authURL string) (status int, location *url.URL, body string) {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 4096)
	n, _ := resp.Body.Read(buf)
	sb.Write(buf[:n])
	if loc := resp.Header.Get("Location"); loc != "" {
		u, err := url.Parse(loc)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, u, sb.String()
	}
	return resp.StatusCode, nil, sb.String()
}

// callback delivers a sign-in answer to the flow and returns its status and body.
func callback(f *connect.Flow, q url.Values) (int, string) {
	rec := httptest.NewRecorder()
	f.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/callback?"+q.Encode(), nil))
	return rec.Code, rec.Body.String()
}

func (b *bundle) connections(t *testing.T) int {
	t.Helper()
	cs, err := b.store.Connections(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return len(cs)
}

// TestCallbackRefusesForgedAnswers: the callback completes a sign-in only
// with a state it issued, once, before it expires, and with the code of that
// very authorization (the PKCE verifier binds them).
func TestCallbackRefusesForgedAnswers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	f := b.flow(t, nil)

	first := f.Begin()
	st, loc, body := authorize(t, first)
	if st != http.StatusFound || loc == nil || loc.Query().Get("code") == "" {
		t.Fatalf("authorize: %d %v %s", st, loc, body)
	}
	answer := loc.Query()
	code := answer.Get("code")

	refused := func(name string, q url.Values, wantStatus int, want string) {
		t.Helper()
		status, body := callback(f, q)
		if status != wantStatus || !strings.Contains(body, want) {
			t.Fatalf("%s: %d %q, want %d and %q", name, status, body, wantStatus, want)
		}
		if strings.Contains(body, code) {
			t.Fatalf("%s: the answer repeats the authorization code", name)
		}
	}
	refused("missing state", url.Values{"code": {code}}, http.StatusBadRequest, "unknown or already used state")
	refused("forged state", url.Values{"code": {code}, "state": {"forged"}}, http.StatusBadRequest, "unknown or already used state")
	if n := b.connections(t); n != 0 {
		t.Fatalf("%d connections after forged answers", n)
	}

	if status, body := callback(f, answer); status != http.StatusOK {
		t.Fatalf("genuine answer: %d %s", status, body)
	}
	if _, err := f.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := b.connections(t); n != 1 {
		t.Fatalf("%d connections after the genuine answer, want 1", n)
	}

	refused("reused state", answer, http.StatusBadRequest, "unknown or already used state")

	// A replayed code under a fresh state: the identity platform refuses it
	// (already redeemed, and bound to the first authorization's verifier).
	second := f.Begin()
	replay := url.Values{"code": {code}, "state": {stateOf(t, second)}}
	refused("replayed code", replay, http.StatusBadGateway, "invalid_grant")

	// A genuine code delivered under another authorization's state is
	// redeemed with that authorization's verifier, which does not match.
	third := f.Begin()
	_, loc3, _ := authorize(t, third)
	fourth := f.Begin()
	swapped := url.Values{"code": {loc3.Query().Get("code")}, "state": {stateOf(t, fourth)}}
	refused("code of another authorization", swapped, http.StatusBadGateway, "AADSTS501481")
	if n := b.connections(t); n != 1 {
		t.Fatalf("%d connections after replays, want 1", n)
	}
}

func stateOf(t *testing.T, authURL string) string {
	t.Helper()
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("state")
}

func TestCallbackRefusesExpiredState(t *testing.T) {
	t.Parallel()
	b := setup(t)
	f := b.flow(t, func(c *connect.Config) { c.StateTTL = time.Millisecond })
	_, loc, body := authorize(t, f.Begin())
	if loc == nil {
		t.Fatalf("authorize: %s", body)
	}
	time.Sleep(20 * time.Millisecond)
	status, out := callback(f, loc.Query())
	if status != http.StatusBadRequest || !strings.Contains(out, "expired") {
		t.Fatalf("expired state: %d %q", status, out)
	}
	if _, err := f.Wait(context.Background()); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("Wait after an expired state: %v", err)
	}
	if n := b.connections(t); n != 0 {
		t.Fatalf("%d connections stored", n)
	}
}

// TestRedirectURIBound: the identity platform sends codes only to a
// registered redirect URI (AADSTS50011), and redeems a code only for the
// redirect URI its authorization named (AADSTS500112).
func TestRedirectURIBound(t *testing.T) {
	t.Parallel()
	b := setup(t)

	evil := b.flow(t, func(c *connect.Config) { c.Auth.RedirectURL = "http://127.0.0.1:8978/steal" })
	status, loc, body := authorize(t, evil.Begin())
	if status != http.StatusBadRequest || loc != nil || !strings.Contains(body, "AADSTS50011") {
		t.Fatalf("unregistered redirect URI: %d %v %.200s", status, loc, body)
	}

	a, err := identity.NewAuth(b.auth)
	if err != nil {
		t.Fatal(err)
	}
	otherCfg := b.auth
	otherCfg.RedirectURL = other
	a2, err := identity.NewAuth(otherCfg)
	if err != nil {
		t.Fatal(err)
	}
	scopes := graphsync.DelegatedScopes([]*graphsync.Resource{graphsync.Mail})
	verifier := oauth2.GenerateVerifier()
	_, loc, body = authorize(t, a.AuthCodeURL("s", verifier, scopes, identity.AuthURLOptions{LoginHint: b.user.UserPrincipalName}))
	if loc == nil || loc.Query().Get("code") == "" {
		t.Fatalf("authorize: %s", body)
	}
	_, err = a2.Exchange(context.Background(), loc.Query().Get("code"), verifier, scopes)
	var te *identity.TokenError
	if !errors.As(err, &te) || te.AADSTS() != 500112 {
		t.Fatalf("code redeemed for another redirect URI: %v, want AADSTS500112", err)
	}
	// The same code with its own redirect URI but a wrong verifier.
	_, err = a.Exchange(context.Background(), loc.Query().Get("code"), oauth2.GenerateVerifier(), scopes)
	if !errors.As(err, &te) || te.Code != "invalid_grant" || te.AADSTS() != 501481 {
		t.Fatalf("wrong PKCE verifier: %v, want invalid_grant AADSTS501481", err)
	}
}
