package identity_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graph"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/identity"
	"github.com/graphsync/graphsync/internal/emutest"
)

func TestAuthCodePKCERoundTrip(t *testing.T) {
	t.Parallel()
	b := emutest.Setup(t, emulator.Config{})
	tok := b.SignIn(t, mailScopes())

	if tok.AccessToken == "" || tok.RefreshToken == "" || tok.IDToken == "" || tok.Expiry.IsZero() {
		t.Fatalf("token lacks parts: %v", tok)
	}
	if tok.Username != b.User.UserPrincipalName || tok.ObjectID != b.User.ID || tok.TenantID != b.Srv.TenantID() {
		t.Fatalf("identity = %q %q %q, want %q %q %q", tok.Username, tok.ObjectID, tok.TenantID,
			b.User.UserPrincipalName, b.User.ID, b.Srv.TenantID())
	}
	if !slices.ContainsFunc(tok.Scopes, func(s string) bool { return strings.EqualFold(s, "https://graph.microsoft.com/Mail.Read") }) {
		t.Fatalf("scopes %q lack Mail.Read", tok.Scopes)
	}

	c := b.Client(t, graph.Config{})
	var me graphsync.User
	if err := c.Get(emutest.Context(t), graph.Call{Token: tok.AccessToken, Service: graphsync.Directory, Resource: "me"}, "/me", &me); err != nil {
		t.Fatal(err)
	}
	if me.ID != b.User.ID {
		t.Fatalf("/me id = %q, want %q", me.ID, b.User.ID)
	}

	// The verifier binds the code to this client: another one is refused,
	// and so is a second redemption.
	code := b.Authorize(t, mailScopes(), b.User.UserPrincipalName, oauth2.GenerateVerifier())
	_, err := b.Auth.Exchange(emutest.Context(t), code.Code, oauth2.GenerateVerifier(), mailScopes())
	var te *identity.TokenError
	if !errors.As(err, &te) || te.Code != "invalid_grant" || !te.NeedsReauth() {
		t.Fatalf("exchange with a wrong verifier: %v, want invalid_grant", err)
	}
}

func TestRefreshRotates(t *testing.T) {
	t.Parallel()
	b := emutest.Setup(t, emulator.Config{})
	first := b.SignIn(t, mailScopes())

	second, err := b.Auth.Refresh(emutest.Context(t), first.RefreshToken, mailScopes())
	if err != nil {
		t.Fatal(err)
	}
	if second.RefreshToken == "" || second.RefreshToken == first.RefreshToken {
		t.Fatalf("refresh token was not rotated: %v", second)
	}
	if second.AccessToken == first.AccessToken || second.Username != b.User.UserPrincipalName {
		t.Fatalf("refreshed token is wrong: %v", second)
	}
	// A narrower scope is allowed; the rotated token works again.
	third, err := b.Auth.Refresh(emutest.Context(t), second.RefreshToken, []string{"offline_access", "User.Read"})
	if err != nil {
		t.Fatal(err)
	}
	if third.RefreshToken == "" {
		t.Fatal("no refresh token after a scoped refresh")
	}
	if _, err := b.Auth.Refresh(emutest.Context(t), "", nil); err == nil {
		t.Fatal("refresh with an empty token was sent")
	}
}

func TestTokenErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		provoke       func(t *testing.T, b *emutest.Bundle, tok *identity.Token) error
		status        int
		code          string
		aadsts        int
		reauth, opErr bool
	}{
		{"revoked grant", func(t *testing.T, b *emutest.Bundle, tok *identity.Token) error {
			b.Srv.RevokeGrant(b.User.ID)
			_, err := b.Auth.Refresh(emutest.Context(t), tok.RefreshToken, nil)
			return err
		}, 400, "invalid_grant", 50173, true, false},
		{"consent removed", func(t *testing.T, b *emutest.Bundle, tok *identity.Token) error {
			b.Srv.RemoveConsent(b.User.ID)
			_, err := b.Auth.Refresh(emutest.Context(t), tok.RefreshToken, nil)
			return err
		}, 400, "invalid_grant", 65001, true, false},
		{"unknown refresh token", func(t *testing.T, b *emutest.Bundle, tok *identity.Token) error {
			_, err := b.Auth.Refresh(emutest.Context(t), "1.AXEA-not-issued", nil)
			return err
		}, 400, "invalid_grant", 9002313, true, false},
		{"expired secret", func(t *testing.T, b *emutest.Bundle, tok *identity.Token) error {
			if err := b.Srv.ExpireClientSecret(emutest.ClientID); err != nil {
				t.Fatal(err)
			}
			_, err := b.Auth.Refresh(emutest.Context(t), tok.RefreshToken, nil)
			return err
		}, 401, "invalid_client", 7000222, false, true},
		{"wrong secret", func(t *testing.T, b *emutest.Bundle, tok *identity.Token) error {
			_, err := emutest.NewAuth(t, b.Srv, b.Srv.TenantID(), "not-the-secret").Refresh(emutest.Context(t), tok.RefreshToken, nil)
			return err
		}, 401, "invalid_client", 7000215, false, true},
		{"client credentials on common", func(t *testing.T, b *emutest.Bundle, tok *identity.Token) error {
			_, err := emutest.NewAuth(t, b.Srv, "common", emutest.Secret).ClientCredentials(emutest.Context(t))
			return err
		}, 0, "unsupported_grant_type", 9001023, false, true},
		{"client credentials on consumers", func(t *testing.T, b *emutest.Bundle, tok *identity.Token) error {
			_, err := emutest.NewAuth(t, b.Srv, "consumers", emutest.Secret).ClientCredentials(emutest.Context(t))
			return err
		}, 0, "unsupported_grant_type", 9001023, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := emutest.Setup(t, emulator.Config{Users: 1, MessagesPerUser: 5})
			tok := b.SignIn(t, mailScopes())
			err := tt.provoke(t, b, tok)
			var te *identity.TokenError
			if !errors.As(err, &te) {
				t.Fatalf("error %v is not a *TokenError", err)
			}
			if te.Status != tt.status || te.Code != tt.code || te.AADSTS() != tt.aadsts ||
				te.NeedsReauth() != tt.reauth || te.ClientProblem() != tt.opErr {
				t.Fatalf("got status %d code %q AADSTS%d reauth %v client %v; want %d %q AADSTS%d %v %v (%v)",
					te.Status, te.Code, te.AADSTS(), te.NeedsReauth(), te.ClientProblem(),
					tt.status, tt.code, tt.aadsts, tt.reauth, tt.opErr, err)
			}
			if tt.status != 0 && (te.TraceID == "" || te.CorrelationID == "") {
				t.Errorf("trace and correlation ids were not parsed: %+v", te)
			}
			emutest.AssertNoSecrets(t, b.Srv, err.Error())
		})
	}
}

func TestScopesRefusedBeforeCalling(t *testing.T) {
	t.Parallel()
	b := emutest.Setup(t, emulator.Config{Users: 1, MessagesPerUser: 5})
	tok := b.SignIn(t, mailScopes())
	mixed := []string{"offline_access", "https://graph.microsoft.com/.default", "Mail.Read"}
	if _, err := b.Auth.Refresh(emutest.Context(t), tok.RefreshToken, mixed); err == nil || !strings.Contains(err.Error(), ".default") {
		t.Fatalf("refresh with .default mixed in: %v, want a client-side refusal", err)
	}
	if _, err := b.Auth.Exchange(emutest.Context(t), "some-code", "verifier", []string{"Mail.Read", "https://management.azure.com/user_impersonation"}); err == nil ||
		!strings.Contains(err.Error(), "different resources") {
		t.Fatalf("exchange with two resources: %v, want a client-side refusal", err)
	}
}

func TestClientCredentials(t *testing.T) {
	t.Parallel()
	b := emutest.Setup(t, emulator.Config{Users: 1, MessagesPerUser: 5})
	tok, err := b.Auth.ClientCredentials(emutest.Context(t))
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == "" || tok.RefreshToken != "" || tok.TenantID != b.Srv.TenantID() {
		t.Fatalf("app token is wrong: %v", tok)
	}
	c := b.Client(t, graph.Config{})
	var u graphsync.User
	err = c.Get(emutest.Context(t), graph.Call{Token: tok.AccessToken, Service: graphsync.Directory, Tenant: tok.TenantID, Resource: "users"},
		"/users/"+b.User.ID, &u)
	if err != nil || u.ID != b.User.ID {
		t.Fatalf("app-only GET user: %v %+v", err, u)
	}
}

func TestAuthURLs(t *testing.T) {
	t.Parallel()
	a, err := identity.NewAuth(identity.Config{Tenant: "common", ClientID: "app-id", RedirectURL: emutest.Redirect})
	if err != nil {
		t.Fatal(err)
	}
	u := a.AuthCodeURL("st", "verifier-verifier-verifier-verifier-verifier", mailScopes(), identity.AuthURLOptions{Prompt: "select_account", DomainHint: "organizations"})
	for _, want := range []string{"https://login.microsoftonline.com/common/oauth2/v2.0/authorize?", "code_challenge_method=S256",
		"response_mode=query", "prompt=select_account", "domain_hint=organizations", "offline_access", "state=st"} {
		if !strings.Contains(u, want) {
			t.Errorf("AuthCodeURL %s lacks %s", u, want)
		}
	}
	if strings.Contains(u, "verifier-verifier") {
		t.Errorf("AuthCodeURL leaks the PKCE verifier: %s", u)
	}
	ac := a.AdminConsentURL("st")
	if !strings.HasPrefix(ac, "https://login.microsoftonline.com/organizations/v2.0/adminconsent?") || !strings.Contains(ac, "client_id=app-id") {
		t.Errorf("AdminConsentURL = %s", ac)
	}
	for _, cfg := range []identity.Config{{ClientID: "x"}, {Tenant: "t"}, {Tenant: "a/b", ClientID: "x"}} {
		if _, err := identity.NewAuth(cfg); err == nil {
			t.Errorf("NewAuth(%+v) accepted a bad config", cfg)
		}
	}
}

// A refresh token redeems SharePoint tokens too when the grant covers
// SharePoint; the rotated refresh token still redeems Graph tokens.
func TestResourceTokenForSharePoint(t *testing.T) {
	t.Parallel()
	b := emutest.Setup(t, emulator.Config{})
	resource, err := identity.SharePointResource("https://contoso-my.sharepoint.com/personal/adele_contoso_com/Documents")
	if err != nil || resource != "https://contoso.sharepoint.com" {
		t.Fatalf("SharePointResource = %q, %v", resource, err)
	}
	for _, bad := range []string{"http://contoso.sharepoint.com/x", "https://graph.microsoft.com/v1.0", "not a url"} {
		if _, err := identity.SharePointResource(bad); err == nil {
			t.Errorf("SharePointResource(%q) accepted", bad)
		}
	}

	tok := b.SignIn(t, append(graphsync.DelegatedScopes([]*graphsync.Resource{graphsync.Drive}), "Sites.Read.All"))
	sp, err := b.Auth.ResourceToken(emutest.Context(t), tok.RefreshToken, resource)
	if err != nil {
		t.Fatal(err)
	}
	if sp.AccessToken == "" || sp.RefreshToken == "" || sp.RefreshToken == tok.RefreshToken || sp.Expiry.IsZero() {
		t.Fatalf("SharePoint token lacks parts or was not rotated: %v", sp)
	}
	if !slices.ContainsFunc(sp.Scopes, func(s string) bool { return strings.HasPrefix(s, resource+"/") }) {
		t.Fatalf("SharePoint token scopes %q are not for %s", sp.Scopes, resource)
	}
	// Graph refuses a token for another audience.
	c := b.Client(t, graph.Config{})
	var me graphsync.User
	err = c.Get(emutest.Context(t), graph.Call{Token: sp.AccessToken, Service: graphsync.Directory, Resource: "me"}, "/me", &me)
	if !graph.IsUnauthorized(err) {
		t.Fatalf("Graph with a SharePoint token: %v, want 401", err)
	}
	if _, err := b.Auth.Refresh(emutest.Context(t), sp.RefreshToken, nil); err != nil {
		t.Fatalf("the rotated refresh token no longer redeems Graph tokens: %v", err)
	}
	if _, err := b.Auth.ResourceToken(emutest.Context(t), tok.RefreshToken, "https://contoso.sharepoint.com/sites/x"); err == nil {
		t.Fatal("a resource with a path was accepted")
	}

	// Without a Sites permission there is no SharePoint consent.
	plain := b.SignIn(t, mailScopes())
	_, err = b.Auth.ResourceToken(emutest.Context(t), plain.RefreshToken, resource)
	var te *identity.TokenError
	if !errors.As(err, &te) || te.AADSTS() != 65001 {
		t.Fatalf("SharePoint token without Sites.Read.All: %v, want AADSTS65001", err)
	}
}
