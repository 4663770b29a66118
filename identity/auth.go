package identity

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/graphsync/graphsync/internal/origin"
)

// Config configures the OAuth flows against the Microsoft identity
// platform (v2.0 endpoints).
type Config struct {
	LoginURL     string // default https://login.microsoftonline.com
	Tenant       string // tenant id or domain; common, organizations or consumers for multi-tenant sign-in
	ClientID     string
	ClientSecret string
	// Certificate, when set, proves the app with a signed client assertion
	// instead of ClientSecret.
	Certificate *Certificate
	RedirectURL string
	// GraphURL is Graph's URL in the app's cloud (default
	// https://graph.microsoft.com; https://graph.microsoft.us,
	// https://microsoftgraph.chinacloudapi.cn, ...): the resource of .default
	// scopes and admin consent (learn.microsoft.com/graph/deployments).
	GraphURL string
	// HTTPClient defaults to a client with a 30s timeout. Whichever client
	// is given, redirects are followed within one origin only: a token
	// request's form carries the client secret, codes and PKCE verifiers.
	HTTPClient *http.Client
}

const defaultLoginURL = "https://login.microsoftonline.com"

func (c *Config) validate() error {
	if c.LoginURL == "" {
		c.LoginURL = defaultLoginURL
	}
	if c.GraphURL == "" {
		c.GraphURL = graphResource
	}
	c.GraphURL = strings.TrimRight(c.GraphURL, "/")
	if g, err := url.Parse(c.GraphURL); err != nil || (g.Scheme != "https" && g.Scheme != "http") || g.Host == "" || g.Path != "" {
		return fmt.Errorf("graphsync: Config.GraphURL %q is not an http(s) origin", c.GraphURL)
	}
	u, err := url.Parse(c.LoginURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("graphsync: Config.LoginURL %q is not an http(s) URL", c.LoginURL)
	}
	switch {
	case c.Tenant == "":
		return errors.New("graphsync: Config.Tenant is required (a tenant id, or common/organizations)")
	case strings.ContainsAny(c.Tenant, "/?#% "):
		return fmt.Errorf("graphsync: Config.Tenant %q is not a tenant id or domain", c.Tenant)
	case c.ClientID == "":
		return errors.New("graphsync: Config.ClientID is required")
	}
	if c.RedirectURL != "" {
		if _, err := url.Parse(c.RedirectURL); err != nil {
			return fmt.Errorf("graphsync: Config.RedirectURL: %w", err)
		}
	}
	return nil
}

// Auth runs the authorization code flow with PKCE, refreshes tokens and
// gets app-only tokens.
type Auth struct {
	cfg      Config
	authURL  string
	tokenURL string
	hc       *http.Client
}

// NewAuth returns an Auth for cfg.
func NewAuth(cfg Config) (*Auth, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	base := strings.TrimRight(cfg.LoginURL, "/") + "/" + url.PathEscape(cfg.Tenant) + "/oauth2/v2.0"
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Auth{cfg: cfg, authURL: base + "/authorize", tokenURL: base + "/token", hc: origin.Guard(hc)}, nil
}

func (a *Auth) config(scopes []string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     a.cfg.ClientID,
		ClientSecret: a.cfg.ClientSecret,
		RedirectURL:  a.cfg.RedirectURL,
		Scopes:       scopes,
		// Microsoft takes the secret in the form. Auto-detection would
		// send a wrong secret twice, once per style.
		Endpoint: oauth2.Endpoint{AuthURL: a.authURL, TokenURL: a.tokenURL, AuthStyle: oauth2.AuthStyleInParams},
	}
}

func (a *Auth) ctx(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, a.hc)
}

// AuthURLOptions tune the sign-in page.
type AuthURLOptions struct {
	Prompt     string // login, none, consent, select_account
	LoginHint  string // the user's UPN, pre-filled
	DomainHint string // organizations or consumers, or a tenant's domain
}

// AuthCodeURL returns the URL to send the user to. verifier is the PKCE
// code verifier (oauth2.GenerateVerifier), kept server-side with state and
// handed to Exchange. The code comes back in the redirect's query.
func (a *Auth) AuthCodeURL(state, verifier string, scopes []string, o AuthURLOptions) string {
	opts := []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("response_mode", "query")}
	if verifier != "" {
		opts = append(opts, oauth2.S256ChallengeOption(verifier))
	}
	if o.Prompt != "" {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", o.Prompt))
	}
	if o.LoginHint != "" {
		opts = append(opts, oauth2.SetAuthURLParam("login_hint", o.LoginHint))
	}
	if o.DomainHint != "" {
		opts = append(opts, oauth2.SetAuthURLParam("domain_hint", o.DomainHint))
	}
	return a.config(scopes).AuthCodeURL(state, opts...)
}

// Exchange redeems an authorization code with its PKCE verifier.
func (a *Auth) Exchange(ctx context.Context, code, verifier string, scopes []string) (*Token, error) {
	const op = "exchange authorization code"
	if code == "" {
		return nil, fmt.Errorf("identity platform: %s: empty code", op)
	}
	var opts []oauth2.AuthCodeOption
	if verifier != "" {
		opts = append(opts, oauth2.VerifierOption(verifier))
	}
	if len(scopes) > 0 {
		if err := ValidateScopes(scopes); err != nil {
			return nil, fmt.Errorf("identity platform: %s: %w", op, err)
		}
		opts = append(opts, oauth2.SetAuthURLParam("scope", strings.Join(scopes, " ")))
	}
	proof, err := a.proof()
	if err != nil {
		return nil, fmt.Errorf("identity platform: %s: %w", op, err)
	}
	for k, v := range proof {
		opts = append(opts, oauth2.SetAuthURLParam(k, v[0]))
	}
	tok, err := a.config(scopes).Exchange(a.ctx(ctx), code, opts...)
	if err != nil {
		return nil, tokenError(op, err)
	}
	return newToken(tok, ""), nil
}

// Refresh redeems a refresh token. The identity platform rotates refresh
// tokens: store the returned one and discard the old. When a response
// carries none, the old one stays valid and is returned.
func (a *Auth) Refresh(ctx context.Context, refreshToken string, scopes []string) (*Token, error) {
	const op = "refresh token"
	if refreshToken == "" {
		return nil, fmt.Errorf("identity platform: %s: empty refresh token", op)
	}
	if len(scopes) > 0 {
		if err := ValidateScopes(scopes); err != nil {
			return nil, fmt.Errorf("identity platform: %s: %w", op, err)
		}
	}
	// oauth2.Config cannot send a scope with a refresh; the client
	// credentials source can, as its grant_type may be overridden.
	cc, err := a.clientCredentials(scopes)
	if err != nil {
		return nil, fmt.Errorf("identity platform: %s: %w", op, err)
	}
	cc.EndpointParams.Set("grant_type", "refresh_token")
	cc.EndpointParams.Set("refresh_token", refreshToken)
	tok, err := cc.Token(a.ctx(ctx))
	if err != nil {
		return nil, tokenError(op, err)
	}
	return newToken(tok, refreshToken), nil
}

// ResourceToken redeems a refresh token for an access token to a resource
// other than Graph, such as SharePoint (https://contoso.sharepoint.com): a
// refresh token is good for every resource the user consented to. The
// result carries the rotated refresh token.
func (a *Auth) ResourceToken(ctx context.Context, refreshToken, resource string) (*Token, error) {
	u, err := url.Parse(resource)
	if err != nil || u.Scheme != "https" || u.Host == "" || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" {
		return nil, fmt.Errorf("identity platform: token for %q: the resource must be an https URL without a path", resource)
	}
	return a.Refresh(ctx, refreshToken, []string{"https://" + u.Host + "/.default", "offline_access"})
}

// SharePointResource returns a tenant's SharePoint resource (its sites
// host, https://contoso.sharepoint.com) from the web URL of a drive or site
// in the tenant, such as a OneDrive's https://contoso-my.sharepoint.com/personal/...
func SharePointResource(webURL string) (string, error) {
	u, err := url.Parse(webURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("SharePoint resource from %q: not an https URL", webURL)
	}
	label, domain, ok := strings.Cut(strings.ToLower(u.Hostname()), ".")
	if !ok || !strings.HasPrefix(domain, "sharepoint.") {
		return "", fmt.Errorf("SharePoint resource from %q: %s is not a SharePoint host", webURL, u.Host)
	}
	return "https://" + strings.TrimSuffix(label, "-my") + "." + domain, nil
}

// ClientCredentials gets an app-only token for Graph with the application
// permissions an admin consented to. It needs a tenant: the identity
// platform refuses the grant on /common and /consumers (AADSTS9001023), so
// that is refused here without a round trip.
func (a *Auth) ClientCredentials(ctx context.Context) (*Token, error) {
	const op = "client credentials"
	switch strings.ToLower(a.cfg.Tenant) {
	case "common", "consumers":
		return nil, &TokenError{
			Code:        "unsupported_grant_type",
			Codes:       []int{9001023},
			Description: fmt.Sprintf("refused before calling the identity platform: tenant %q cannot issue app-only tokens", a.cfg.Tenant),
			op:          op,
		}
	}
	cc, err := a.clientCredentials(a.ApplicationScopes())
	if err != nil {
		return nil, fmt.Errorf("identity platform: %s: %w", op, err)
	}
	tok, err := cc.Token(a.ctx(ctx))
	if err != nil {
		return nil, tokenError(op, err)
	}
	t := newToken(tok, "")
	if t.TenantID == "" && !isTenantAlias(a.cfg.Tenant) {
		t.TenantID = a.cfg.Tenant
	}
	return t, nil
}

func (a *Auth) clientCredentials(scopes []string) (*clientcredentials.Config, error) {
	proof, err := a.proof()
	if err != nil {
		return nil, err
	}
	return &clientcredentials.Config{
		ClientID:       a.cfg.ClientID,
		ClientSecret:   a.cfg.ClientSecret,
		TokenURL:       a.tokenURL,
		Scopes:         scopes,
		AuthStyle:      oauth2.AuthStyleInParams,
		EndpointParams: proof,
	}, nil
}

// clientAssertionType is the client_assertion_type of a certificate's
// signed assertion.
const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// proof is what a token request adds to prove the app with its
// certificate: a fresh client assertion for the token endpoint (none with
// a secret, which the oauth2 package sends itself).
func (a *Auth) proof() (url.Values, error) {
	if a.cfg.Certificate == nil {
		return url.Values{}, nil
	}
	jwt, err := a.cfg.Certificate.assertion(a.cfg.ClientID, a.tokenURL, time.Now())
	if err != nil {
		return nil, err
	}
	return url.Values{"client_assertion_type": {clientAssertionType}, "client_assertion": {jwt}}, nil
}

// AdminConsentURL returns the v2.0 admin consent URL granting the app's
// configured application permissions in the admin's tenant.
func (a *Auth) AdminConsentURL(state string) string {
	tenant := a.cfg.Tenant
	if strings.EqualFold(tenant, "common") || strings.EqualFold(tenant, "consumers") {
		// Admin consent is for work accounts; organizations lets any
		// tenant's admin sign in.
		tenant = "organizations"
	}
	q := url.Values{
		"client_id": {a.cfg.ClientID},
		"scope":     {a.cfg.GraphURL + "/.default"},
		"state":     {state},
	}
	if a.cfg.RedirectURL != "" {
		q.Set("redirect_uri", a.cfg.RedirectURL)
	}
	return strings.TrimRight(a.cfg.LoginURL, "/") + "/" + url.PathEscape(tenant) + "/v2.0/adminconsent?" + q.Encode()
}

func isTenantAlias(t string) bool {
	switch strings.ToLower(t) {
	case "common", "organizations", "consumers":
		return true
	}
	return false
}

// Token is the result of a token request. Print it freely: String, GoString
// and LogValue redact the secrets. Persist its fields explicitly.
type Token struct {
	AccessToken  string
	RefreshToken string
	IDToken      string
	Expiry       time.Time
	Scopes       []string // as granted, e.g. https://graph.microsoft.com/Mail.Read
	TenantID     string   // from the id_token: tid
	ObjectID     string   // oid
	Username     string   // preferred_username (the UPN for work accounts)
	DisplayName  string   // name
}

func newToken(tok *oauth2.Token, oldRefresh string) *Token {
	t := &Token{
		AccessToken:  tok.AccessToken,
		RefreshToken: tok.RefreshToken,
		Expiry:       tok.Expiry,
	}
	if t.RefreshToken == "" {
		t.RefreshToken = oldRefresh
	}
	if s, ok := tok.Extra("scope").(string); ok {
		t.Scopes = strings.Fields(s)
	}
	if s, ok := tok.Extra("id_token").(string); ok {
		t.IDToken = s
		c := parseIDToken(s)
		t.TenantID, t.ObjectID, t.DisplayName = c.Tid, c.Oid, c.Name
		t.Username = c.PreferredUsername
		if t.Username == "" {
			t.Username = c.Upn
		}
	}
	return t
}

type idClaims struct {
	Tid               string `json:"tid"`
	Oid               string `json:"oid"`
	PreferredUsername string `json:"preferred_username"`
	Upn               string `json:"upn"`
	Name              string `json:"name"`
}

// parseIDToken reads the claims of an id_token received directly from the
// token endpoint over TLS, which OpenID Connect allows to trust without
// checking the signature. Anything malformed yields no claims.
func parseIDToken(s string) idClaims {
	var c idClaims
	parts := strings.Split(s, ".")
	if len(parts) != 3 || len(parts[1]) > 64<<10 {
		return c
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return c
	}
	if json.Unmarshal(b, &c) != nil {
		return idClaims{}
	}
	return c
}

func redacted(s string) string {
	if s == "" {
		return "none"
	}
	return fmt.Sprintf("redacted(%d)", len(s))
}

// String describes the token without its secrets.
func (t Token) String() string {
	return fmt.Sprintf("Token{access:%s refresh:%s id:%s expiry:%s scopes:%v tenant:%s oid:%s user:%q}",
		redacted(t.AccessToken), redacted(t.RefreshToken), redacted(t.IDToken),
		t.Expiry.UTC().Format(time.RFC3339), t.Scopes, t.TenantID, t.ObjectID, t.Username)
}

// GoString keeps %#v from printing the fields.
func (t Token) GoString() string { return "graphsync." + t.String() }

// LogValue keeps slog's JSON handler from printing the fields.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("access_token", redacted(t.AccessToken)),
		slog.String("refresh_token", redacted(t.RefreshToken)),
		slog.Time("expiry", t.Expiry),
		slog.String("tenant_id", t.TenantID),
		slog.String("object_id", t.ObjectID),
		slog.String("username", t.Username),
	)
}
