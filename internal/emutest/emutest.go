// Package emutest is what tests need to talk to the bundled emulator as a
// signed-in user: an emulator with graphsync's test app registered, and the
// authorization-code flow with PKCE run without a browser (the emulator's
// authorize endpoint redirects at once).
package emutest

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graph"
	"github.com/graphsync/graphsync/identity"
	"github.com/graphsync/graphsync/internal/secretscan"
)

// The app the emulator registers by default.
const (
	ClientID = "graphsync-test-client"
	Secret   = "emulator-secret"
	Redirect = "http://127.0.0.1:8085/callback"
)

// Bundle is an emulator, its first user and an Auth for its tenant.
type Bundle struct {
	Srv  *emulator.Server
	User emulator.User
	Auth *identity.Auth
}

// Setup starts an emulator (2 users of 60 messages and seed 42 unless cfg
// says otherwise), stopped when the test ends.
func Setup(t *testing.T, cfg emulator.Config) *Bundle {
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
	return &Bundle{Srv: srv, User: srv.Users()[0], Auth: NewAuth(t, srv, srv.TenantID(), Secret)}
}

// NewAuth is an Auth of the test app for tenant with the given secret.
func NewAuth(t *testing.T, srv *emulator.Server, tenant, secret string) *identity.Auth {
	t.Helper()
	a, err := identity.NewAuth(identity.Config{
		LoginURL: srv.URL(), Tenant: tenant, ClientID: ClientID, ClientSecret: secret, RedirectURL: Redirect,
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// SignIn runs the authorization code flow with PKCE for the bundle's user.
func (b *Bundle) SignIn(t *testing.T, scopes []string) *identity.Token {
	t.Helper()
	code := b.Authorize(t, scopes, b.User.UserPrincipalName, oauth2.GenerateVerifier())
	tok, err := b.Auth.Exchange(Context(t), code.Code, code.Verifier, scopes)
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return tok
}

// AuthCode is an authorization code and the PKCE verifier it was asked
// with.
type AuthCode struct{ Code, Verifier string }

// Authorize opens the authorize URL for upn as a browser would and returns
// the code the redirect carries.
func (b *Bundle) Authorize(t *testing.T, scopes []string, upn, verifier string) AuthCode {
	t.Helper()
	state := "state-" + t.Name()
	u := b.Auth.AuthCodeURL(state, verifier, scopes, identity.AuthURLOptions{LoginHint: upn})
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
	return AuthCode{q.Get("code"), verifier}
}

// Context is a minute-long context ended with the test.
func Context(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

// AssertNoSecrets fails when s holds a secret the emulator issued, in any
// of the forms a leak takes.
func AssertNoSecrets(t *testing.T, srv *emulator.Server, s string) {
	t.Helper()
	if found := secretscan.Scan("error text", []byte(s), srv.IssuedSecrets()); len(found) > 0 {
		t.Fatalf("%q leaks an issued secret: %v", s, found)
	}
}

// Client is a Graph client of the bundle's emulator.
func (b *Bundle) Client(t *testing.T, cfg graph.Config) *graph.Client {
	t.Helper()
	cfg.BaseURL = b.Srv.URL()
	c, err := graph.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
