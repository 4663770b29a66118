// Package connect runs the OAuth 2.0 authorization-code flow with PKCE that
// connects a Microsoft account to graphsync: it prints the authorize URL,
// serves the redirect, redeems the code and stores the connection with its
// tokens encrypted. It works headless: whoever opens the URL — a person's
// browser, a script or a test — completes it.
package connect

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/graphsync/graphsync/graph"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/identity"
	"github.com/graphsync/graphsync/store"
)

// Config of a connect flow.
type Config struct {
	Store     *store.Store
	Auth      identity.Config
	Graph     Getter                // reads /me when the token response names no user
	Resources []*graphsync.Resource // resources to sync; they decide the scopes
	// ExtraScopes are requested on top of the resources' own, e.g.
	// Sites.Read.All for the SharePoint token apps can read.
	ExtraScopes []string
	Prompt      string // "", consent, login, select_account
	LoginHint   string
	// Application connects a whole tenant instead of one user: Begin
	// returns the admin-consent URL, and the callback stores an application
	// connection whose tokens come from the client-credentials grant.
	Application bool
	// StateTTL bounds how long an authorize URL stays valid (default 10m).
	StateTTL time.Duration
	Logger   *slog.Logger
}

// Getter reads one Graph object.
type Getter interface {
	Get(ctx context.Context, call graph.Call, link string, out any) error
}

// Flow is one or more pending authorizations and the callback that
// completes them. States are single-use and expire.
type Flow struct {
	cfg    Config
	auth   *identity.Auth
	scopes []string
	path   string

	mu      sync.Mutex
	pending map[string]pendingAuth
	results chan result
}

type pendingAuth struct {
	verifier string
	expires  time.Time
}

type result struct {
	conn *store.Connection
	err  error
}

// New validates cfg and computes the scopes.
func New(cfg Config) (*Flow, error) {
	if cfg.Store == nil {
		return nil, errors.New("connect: Store is nil")
	}
	if len(cfg.Resources) == 0 {
		return nil, errors.New("connect: no resources to sync")
	}
	rs := cfg.Resources
	scopes := graphsync.DelegatedScopes(rs)
	for _, x := range cfg.ExtraScopes {
		if !slices.Contains(scopes, x) {
			scopes = append(scopes, x)
		}
	}
	if cfg.Application {
		scopes = graphsync.ApplicationPermissions(rs)
	} else if err := identity.ValidateScopes(scopes); err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	switch cfg.Prompt {
	case "", "consent", "login", "select_account":
	default:
		return nil, fmt.Errorf("connect: --prompt %q is not consent, login or select_account", cfg.Prompt)
	}
	auth, err := identity.NewAuth(cfg.Auth)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	u, err := url.Parse(cfg.Auth.RedirectURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("connect: redirect URL %q is not absolute", cfg.Auth.RedirectURL)
	}
	if cfg.StateTTL <= 0 {
		cfg.StateTTL = 10 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	path := u.Path
	if path == "" {
		path = "/"
	}
	return &Flow{cfg: cfg, auth: auth, scopes: scopes, path: path,
		pending: map[string]pendingAuth{}, results: make(chan result, 16)}, nil
}

// Scopes are the scopes the flow requests; for an application flow, the
// application permissions the admin must have granted to the app.
func (f *Flow) Scopes() []string { return f.scopes }

// Begin starts an authorization and returns the URL to open.
func (f *Flow) Begin() string {
	state := randomString()
	verifier := oauth2.GenerateVerifier()
	f.mu.Lock()
	f.pending[state] = pendingAuth{verifier: verifier, expires: time.Now().Add(f.cfg.StateTTL)}
	f.mu.Unlock()
	return f.AuthURL(state, verifier)
}

// AuthURL is the URL that starts an authorization whose state and PKCE
// verifier the caller keeps (the hosted sessions keep them in the
// database): the sign-in page, or the admin-consent page of an
// application flow.
func (f *Flow) AuthURL(state, verifier string) string {
	if f.cfg.Application {
		return f.auth.AdminConsentURL(state)
	}
	return f.auth.AuthCodeURL(state, verifier, f.scopes, identity.AuthURLOptions{Prompt: f.cfg.Prompt, LoginHint: f.cfg.LoginHint})
}

// ServeHTTP handles the redirect: it checks the state (known, unexpired,
// unused), redeems the code with the PKCE verifier and stores the connection.
func (f *Flow) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path != f.path {
		http.NotFound(w, req)
		return
	}
	q := req.URL.Query()
	state := q.Get("state")
	f.mu.Lock()
	p, ok := f.pending[state]
	delete(f.pending, state) // single use, whatever happens next
	f.mu.Unlock()
	switch {
	case state == "" || !ok:
		f.fail(w, http.StatusBadRequest, errors.New("the sign-in answer carries an unknown or already used state; start again"), false)
		return
	case time.Now().After(p.expires):
		f.fail(w, http.StatusBadRequest, errors.New("the sign-in took too long and its state expired; start again"), true)
		return
	}
	c, tok, err := f.Answer(req.Context(), q, p.verifier)
	var ae *AnswerError
	if errors.As(err, &ae) {
		f.fail(w, http.StatusBadRequest, err, true)
		return
	}
	var conn *store.Connection
	if err == nil {
		conn, err = f.cfg.Store.SaveConnection(req.Context(), c, tok)
	}
	if err != nil {
		f.fail(w, http.StatusBadGateway, err, true)
		return
	}
	f.cfg.Logger.Debug("connection stored", "connection_id", conn.ID, "kind", conn.Kind, "user", conn.UserPrincipalName)
	name := conn.UserPrincipalName
	if conn.Kind == store.KindApplication {
		name = "tenant " + conn.TenantID
	}
	respond(w, http.StatusOK, "text/html; charset=utf-8",
		fmt.Sprintf("<!doctype html><title>graphsync</title><p>Connected %s. You can close this window.</p>", html.EscapeString(name)))
	f.results <- result{conn: conn}
}

// AnswerError is an authorization answer that refuses or lacks what a
// connection needs: the user declined, an administrator must approve, the
// answer carries no code.
type AnswerError struct {
	// Code is the short code an app branches on (see ErrorCode).
	Code string
	Err  error
}

func (e *AnswerError) Error() string { return e.Err.Error() }
func (e *AnswerError) Unwrap() error { return e.Err }

// Answer reads the authorization answer the identity platform sent to the
// redirect URI (its state already checked by the caller) and redeems it:
// the code with its PKCE verifier, or for an application flow the admin's
// consent. It returns the connection to store with its tokens, storing
// nothing; an answer that refuses is an *AnswerError.
func (f *Flow) Answer(ctx context.Context, q url.Values, verifier string) (*store.Connection, store.Tokens, error) {
	switch {
	case q.Get("error") != "":
		return nil, store.Tokens{}, &AnswerError{Code: ErrorCode(q.Get("error"), q.Get("error_description")),
			Err: fmt.Errorf("the identity platform refused the sign-in: %s: %s", q.Get("error"), q.Get("error_description"))}
	case f.cfg.Application && !strings.EqualFold(q.Get("admin_consent"), "true"):
		return nil, store.Tokens{}, &AnswerError{Code: "consent_denied", Err: errors.New("the admin-consent answer does not say consent was granted")}
	case f.cfg.Application:
		return f.RedeemApplication(ctx, q.Get("tenant"))
	case q.Get("code") == "":
		return nil, store.Tokens{}, &AnswerError{Code: "invalid_answer", Err: errors.New("the sign-in answer carries no code")}
	}
	return f.Redeem(ctx, q.Get("code"), verifier)
}

// ErrorCode maps an authorization error answer (the error and
// error_description parameters, which carry an AADSTS code) to a short
// code for apps: consent_denied, admin_approval_required, user_not_assigned,
// blocked_by_policy, tenant_not_found, sign_in_required, or sign_in_failed
// (learn.microsoft.com/entra/identity-platform/reference-error-codes).
func ErrorCode(oauthError, description string) string {
	te := &identity.TokenError{Code: oauthError, Description: description}
	switch te.AADSTS() {
	case 65004:
		return "consent_denied" // UserDeclinedConsent
	case 90094, 90099, 65001, 650056, 900941:
		return "admin_approval_required" // AdminConsentRequired, and consent the user cannot give
	case 50105:
		return "user_not_assigned"
	case 53003, 530032, 500021, 500022:
		return "blocked_by_policy" // Conditional Access or tenant restrictions
	case 90002, 50128, 50059, 700016:
		return "tenant_not_found"
	}
	switch strings.ToLower(oauthError) {
	case "access_denied":
		return "consent_denied"
	case "consent_required":
		return "admin_approval_required"
	case "interaction_required", "login_required":
		return "sign_in_required"
	}
	return "sign_in_failed"
}

func (f *Flow) fail(w http.ResponseWriter, status int, err error, deliver bool) {
	// A delivered failure reaches Wait's caller, who reports it; a stray
	// request (an unknown state) reaches nobody else.
	level := slog.LevelWarn
	if deliver {
		level = slog.LevelDebug
	}
	f.cfg.Logger.Log(context.Background(), level, "connect callback refused", "error", err)
	respond(w, status, "text/plain; charset=utf-8", err.Error()+"\n")
	if deliver {
		select {
		case f.results <- result{err: err}:
		default:
		}
	}
}

// respond sends a whole page, its length announced and flushed, before
// the outcome goes to Wait: `graphsync connect` exits as soon as Wait
// returns, and a page still in the server's buffer would never reach the
// browser.
func respond(w http.ResponseWriter, status int, contentType, body string) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
	_ = http.NewResponseController(w).Flush()
}

// Redeem redeems an authorization code with its PKCE verifier and returns
// the connection to store, with its tokens; it stores nothing.
func (f *Flow) Redeem(ctx context.Context, code, verifier string) (*store.Connection, store.Tokens, error) {
	tok, err := f.auth.Exchange(ctx, code, verifier, f.scopes)
	if err != nil {
		return nil, store.Tokens{}, fmt.Errorf("redeem authorization code: %w", err)
	}
	c := &store.Connection{Kind: store.KindDelegated, TenantID: tok.TenantID, UserID: tok.ObjectID,
		UserPrincipalName: tok.Username, DisplayName: tok.DisplayName, Scopes: tok.Scopes, Resources: f.cfg.Resources}
	if c.UserID == "" && f.cfg.Graph != nil {
		var me struct {
			ID                string `json:"id"`
			UserPrincipalName string `json:"userPrincipalName"`
			DisplayName       string `json:"displayName"`
		}
		if err := f.cfg.Graph.Get(ctx, graph.Call{Token: tok.AccessToken, Service: graphsync.Directory, Resource: "me"}, "/me", &me); err != nil {
			return nil, store.Tokens{}, fmt.Errorf("read the signed-in user: %w", err)
		}
		c.UserID, c.UserPrincipalName, c.DisplayName = me.ID, me.UserPrincipalName, me.DisplayName
	}
	if c.TenantID == "" {
		c.TenantID = f.cfg.Auth.Tenant
	}
	if c.UserID == "" {
		return nil, store.Tokens{}, errors.New("the token response names no user (no id_token) and /me could not be read")
	}
	return c, store.Tokens{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, Expiry: tok.Expiry}, nil
}

// RedeemApplication checks, after an admin of tenant consented, that the
// client-credentials grant works for the tenant (never /common, which
// cannot issue app-only tokens), and returns the application connection
// to store with the first app-only token; it stores nothing.
func (f *Flow) RedeemApplication(ctx context.Context, tenant string) (*store.Connection, store.Tokens, error) {
	if tenant == "" {
		return nil, store.Tokens{}, errors.New("the admin-consent answer names no tenant")
	}
	// A tenant asked for by domain comes back as its GUID; one asked for by
	// GUID must come back unchanged.
	if want := f.cfg.Auth.Tenant; isGUID(want) && !strings.EqualFold(want, tenant) {
		return nil, store.Tokens{}, fmt.Errorf("an admin of tenant %s consented, but tenant %s was asked for", tenant, want)
	}
	acfg := f.cfg.Auth
	acfg.Tenant = tenant
	auth, err := identity.NewAuth(acfg)
	if err != nil {
		return nil, store.Tokens{}, err
	}
	tok, err := auth.ClientCredentials(ctx)
	if err != nil {
		return nil, store.Tokens{}, fmt.Errorf("get an app-only token for tenant %s: %w", tenant, err)
	}
	c := &store.Connection{Kind: store.KindApplication, TenantID: tenant, DisplayName: "tenant " + tenant,
		Scopes: f.scopes, Resources: f.cfg.Resources}
	return c, store.Tokens{AccessToken: tok.AccessToken, Expiry: tok.Expiry}, nil
}

func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if r != '-' {
				return false
			}
		case !strings.ContainsRune("0123456789abcdefABCDEF", r):
			return false
		}
	}
	return true
}

// Wait returns the next completed (or failed) authorization.
func (f *Flow) Wait(ctx context.Context) (*store.Connection, error) {
	select {
	case r := <-f.results:
		return r.conn, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for the sign-in: %w", ctx.Err())
	}
}

// Listen serves the callback on the redirect URL's host and port until ctx
// ends. The redirect host must be a loopback address unless allowRemote.
func (f *Flow) Listen(ctx context.Context, allowRemote bool) (net.Addr, error) {
	u, _ := url.Parse(f.cfg.Auth.RedirectURL)
	host := u.Hostname()
	if !allowRemote && !isLoopback(host) {
		return nil, fmt.Errorf("connect: redirect URL host %s is not a loopback address; serve the callback behind your own HTTPS endpoint", host)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return nil, fmt.Errorf("connect: listen for the redirect on %s: %w", u.Host, err)
	}
	srv := &http.Server{Handler: f, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	return ln.Addr(), nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Headless runs one whole flow without a person: it serves the callback
// (loopback only), follows the authorize or admin-consent URL and returns
// the stored connection. It suits identity providers that need no human,
// such as graphsync's emulator, for the demo, benchmarks and tests.
func Headless(ctx context.Context, cfg Config) (*store.Connection, error) {
	flow, err := New(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	addr, err := flow.Listen(ctx, false)
	if err != nil {
		return nil, err
	}
	if err := Follow(ctx, flow.Begin()); err != nil {
		return nil, err
	}
	conn, err := flow.Wait(ctx)
	cancel()
	// The next flow may bind the same redirect port: wait until this
	// listener has let it go.
	for i := 0; i < 100; i++ {
		l, lerr := net.Listen("tcp", addr.String())
		if lerr == nil {
			l.Close()
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return conn, err
}

// Follow completes an authorization headless, as a browser would: it opens
// authURL and follows redirects until one reaches the callback. It suits
// identity providers that need no human, such as graphsync's emulator.
func Follow(ctx context.Context, authURL string) error {
	client := &http.Client{Timeout: 30 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("follow the sign-in: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b := make([]byte, 512)
		n, _ := resp.Body.Read(b)
		return fmt.Errorf("follow the sign-in: callback answered %s: %s", resp.Status, strings.TrimSpace(string(b[:n])))
	}
	return nil
}

func randomString() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// LoopbackRedirect returns a redirect URL with path on a free loopback
// port, for flows run without a person (the demo, benchmarks, tests).
func LoopbackRedirect(path string) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return fmt.Sprintf("http://%s%s", l.Addr().String(), path), nil
}
