package identity_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graph"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/identity"
)

const (
	testClientID = "graphsync-test-client"
	testSecret   = "emulator-secret"
	testRedirect = "http://127.0.0.1:8085/callback"
)

// bundle is what most tests need: an emulator, a user and clients for it.
type bundle struct {
	srv  *emulator.Server
	user emulator.User
	auth *identity.Auth
}

func setup(t *testing.T, cfg emulator.Config) *bundle {
	t.Helper()
	if cfg.Users == 0 {
		cfg.Users = 2
	}
	if cfg.MessagesPerUser == 0 {
		cfg.MessagesPerUser = 60
	}
	if cfg.Seed == 0 {
		cfg.Seed = 42
	}
	srv, err := emulator.Start(cfg)
	if err != nil {
		t.Fatalf("start emulator: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return &bundle{srv: srv, user: srv.Users()[0], auth: newAuth(t, srv, srv.TenantID(), testSecret)}
}

func newAuth(t *testing.T, srv *emulator.Server, tenant, secret string) *identity.Auth {
	t.Helper()
	a, err := identity.NewAuth(identity.Config{
		LoginURL: srv.URL(), Tenant: tenant, ClientID: testClientID, ClientSecret: secret, RedirectURL: testRedirect,
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (b *bundle) client(t *testing.T, cfg graph.Config) *graph.Client {
	t.Helper()
	cfg.BaseURL = b.srv.URL()
	c, err := graph.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// signIn runs the authorization code flow with PKCE for the bundle's user;
// the emulator's authorize endpoint redirects at once, without a human.
func (b *bundle) signIn(t *testing.T, scopes []string) *identity.Token {
	t.Helper()
	code := b.authorize(t, scopes, b.user.UserPrincipalName, oauth2.GenerateVerifier())
	tok, err := b.auth.Exchange(ctx(t), code.code, code.verifier, scopes)
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return tok
}

type authCode struct{ code, verifier string }

func (b *bundle) authorize(t *testing.T, scopes []string, upn, verifier string) authCode {
	t.Helper()
	state := "state-" + t.Name()
	u := b.auth.AuthCodeURL(state, verifier, scopes, identity.AuthURLOptions{LoginHint: upn})
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: status %d, want 302", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	q := loc.Query()
	if q.Get("state") != state || q.Get("code") == "" {
		t.Fatalf("authorize redirected to %s: want code and state %q (error %q)", loc.Redacted(), state, q.Get("error_description"))
	}
	return authCode{q.Get("code"), verifier}
}

func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func mailScopes() []string { return graphsync.DelegatedScopes([]*graphsync.Resource{graphsync.Mail}) }
