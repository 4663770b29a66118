// Package token is the lifecycle of a connection's tokens, in one place: a
// usable access token on demand, a refresh under the connection's row lock
// (however many processes race, one calls the identity platform and the
// others reuse its result), the rotated refresh token stored in the same
// transaction, tokens for SharePoint, and a connection marked needs_reauth
// when only a new sign-in can help, or needs_admin (with the rest of its
// tenant) when the tenant refuses the app. Only a failure of the app's own
// registration or secret raises the app-wide alarm
// (graphsync_app_credentials_ok). The refresh job, the sync, `graphsync
// connections token` and the app API all go through it.
package token

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/graphsync/graphsync/graph"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/identity"
	"github.com/graphsync/graphsync/store"
)

// Kind is what an access token is for.
type Kind string

const (
	Graph      Kind = "graph"
	SharePoint Kind = "sharepoint"
)

// ParseKind reads a Kind.
func ParseKind(s string) (Kind, error) {
	switch Kind(s) {
	case Graph, SharePoint:
		return Kind(s), nil
	}
	return "", fmt.Errorf("token resource %q: want %s or %s", s, Graph, SharePoint)
}

// Errors callers branch on.
var (
	// ErrNotActive: the connection is disabled or needs re-authentication.
	ErrNotActive = errors.New("connection is not active")
	// ErrNoSharePoint: the connection cannot have a SharePoint token.
	ErrNoSharePoint = errors.New("no SharePoint access: only delegated connections granted Sites.Read.All (or another Sites permission) have a SharePoint token")
)

// ReauthError says a connection needs its user to sign in again; the
// connection is marked needs_reauth with the code and reason.
type ReauthError struct{ Err *identity.TokenError }

func (e *ReauthError) Error() string { return "connection needs re-authentication: " + e.Err.Error() }
func (e *ReauthError) Unwrap() error { return e.Err }

// TenantError says the connection's tenant refuses the app (tenant not
// found, the app not installed, consented or enabled there): every active
// connection of the tenant is marked needs_admin with the code and reason.
type TenantError struct {
	Tenant string
	Err    *identity.TokenError
}

func (e *TenantError) Error() string {
	return "tenant " + e.Tenant + " refuses the app: " + e.Err.Error()
}
func (e *TenantError) Unwrap() error { return e.Err }

// ClientProblemError is an answer that blames the operator's app
// registration or secret, not the connection.
type ClientProblemError struct{ Err *identity.TokenError }

func (e *ClientProblemError) Error() string { return "app credentials refused: " + e.Err.Error() }
func (e *ClientProblemError) Unwrap() error { return e.Err }

// Getter reads one Graph object (the user's drive, to find SharePoint).
type Getter interface {
	Get(ctx context.Context, call graph.Call, link string, out any) error
}

// DefaultRefreshAhead is how long before expiry a token is refreshed when
// the configuration does not say.
const DefaultRefreshAhead = 10 * time.Minute

// Config configures a Source.
type Config struct {
	Store *store.Store
	// Graph finds a connection's SharePoint host.
	Graph Getter
	// App is the app registration; its Tenant is replaced per connection.
	App identity.Config
	// RefreshAhead is how long before expiry a token is refreshed (default
	// 10 minutes).
	RefreshAhead time.Duration
	// Scheduled, when set, runs in the transaction that stored a refreshed
	// access token, with its expiry: the jobs package schedules the next
	// refresh there, so the two commit together.
	Scheduled func(ctx context.Context, tx store.Tx, connectionID int64, expiry time.Time) error
	Logger    *slog.Logger
}

// Source hands out connections' access tokens. It is safe for concurrent
// use; share one per process.
type Source struct {
	cfg Config
	log *slog.Logger

	authMu sync.Mutex
	auths  map[string]*identity.Auth

	problemMu   sync.Mutex
	problemSeen map[string]time.Time
	// appClean is set once this process cleared the recorded refusal of
	// the app's credentials after a token was issued, until the next one.
	appClean atomic.Bool
}

// New validates cfg.
func New(cfg Config) (*Source, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("token config: Store is nil")
	case cfg.App.ClientID == "":
		return nil, errors.New("token config: App.ClientID is empty")
	}
	if cfg.RefreshAhead <= 0 {
		cfg.RefreshAhead = DefaultRefreshAhead
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Source{cfg: cfg, log: cfg.Logger, auths: map[string]*identity.Auth{}, problemSeen: map[string]time.Time{}}, nil
}

// RefreshAhead is how long before expiry tokens are refreshed.
func (s *Source) RefreshAhead() time.Duration { return s.cfg.RefreshAhead }

// Get returns a usable access token of a connection for Graph or for its
// tenant's SharePoint, redeeming a new one first when the stored one is
// about to expire.
func (s *Source) Get(ctx context.Context, connectionID int64, kind Kind) (string, time.Time, error) {
	t, err := s.Issue(ctx, connectionID, kind)
	return t.AccessToken, t.Expiry, err
}

// Issued is an access token handed out.
type Issued struct {
	AccessToken string
	Expiry      time.Time
	// Refreshed says this call redeemed it at the identity platform; false
	// when it was stored already (or another caller redeemed it meanwhile).
	Refreshed bool
}

// Issue is Get, saying whether the token was redeemed for the call.
func (s *Source) Issue(ctx context.Context, connectionID int64, kind Kind) (Issued, error) {
	switch kind {
	case Graph:
		return s.access(ctx, connectionID)
	case SharePoint:
		t, refreshed, err := s.sharePoint(ctx, connectionID)
		return Issued{AccessToken: t.AccessToken, Expiry: t.Expiry, Refreshed: refreshed}, err
	}
	return Issued{}, fmt.Errorf("access token of connection %d: unknown kind %q", connectionID, kind)
}

// Access returns a usable Graph access token for a connection, refreshing
// it first when it expires within a minute.
func (s *Source) Access(ctx context.Context, connectionID int64) (string, error) {
	t, err := s.access(ctx, connectionID)
	return t.AccessToken, err
}

func (s *Source) access(ctx context.Context, connectionID int64) (Issued, error) {
	tok, err := s.cfg.Store.Tokens(ctx, connectionID)
	if err != nil {
		return Issued{}, err
	}
	if tok.AccessToken != "" && time.Until(tok.Expiry) > time.Minute {
		return Issued{AccessToken: tok.AccessToken, Expiry: tok.Expiry}, nil
	}
	return s.refresh(ctx, connectionID, "")
}

// Refresh obtains a new access token for a connection with its row locked.
// rejected names an access token Graph refused (401): it is replaced even
// if not near expiry, unless another process replaced it already.
func (s *Source) Refresh(ctx context.Context, connectionID int64, rejected string) (string, error) {
	t, err := s.refresh(ctx, connectionID, rejected)
	return t.AccessToken, err
}

func (s *Source) refresh(ctx context.Context, connectionID int64, rejected string) (Issued, error) {
	var access string
	var expiry time.Time
	var outcome string
	var stopped error // a ReauthError or TenantError recorded on the connection
	err := s.cfg.Store.InTx(ctx, func(tx store.Tx) error {
		conn, tok, err := s.cfg.Store.LockTokensTx(ctx, tx, connectionID)
		if err != nil {
			return err
		}
		if conn.Status != store.StatusActive {
			return fmt.Errorf("refresh token of connection %d: %w (status %s)", connectionID, ErrNotActive, conn.Status)
		}
		fresh := tok.AccessToken != "" && time.Until(tok.Expiry) > s.cfg.RefreshAhead
		if fresh && (rejected == "" || tok.AccessToken != rejected) {
			access, expiry, outcome = tok.AccessToken, tok.Expiry, "skipped"
			return nil
		}
		if rejected != "" && tok.AccessToken != rejected && tok.AccessToken != "" && time.Until(tok.Expiry) > time.Minute {
			// Another process refreshed after the 401.
			access, expiry, outcome = tok.AccessToken, tok.Expiry, "skipped"
			return nil
		}
		auth, err := s.authFor(conn.TenantID)
		if err != nil {
			return err
		}
		var nt *identity.Token
		if conn.Kind == store.KindApplication {
			nt, err = auth.ClientCredentials(ctx)
		} else {
			if tok.RefreshToken == "" {
				reauth := &ReauthError{Err: &identity.TokenError{Code: "invalid_grant", Description: "no refresh token stored"}}
				stopped = reauth
				return s.markReauthTx(ctx, tx, conn, reauth)
			}
			nt, err = auth.Refresh(ctx, tok.RefreshToken, nil)
		}
		var te *identity.TokenError
		if errors.As(err, &te) {
			switch s.scope(conn, te) {
			case identity.ScopeUser:
				outcome = "invalid_grant"
				reauth := &ReauthError{Err: te}
				stopped = reauth
				return s.markReauthTx(ctx, tx, conn, reauth)
			case identity.ScopeTenant:
				outcome = "needs_admin"
				te := &TenantError{Tenant: conn.TenantID, Err: te}
				stopped = te
				return s.markTenantTx(ctx, tx, conn, te)
			case identity.ScopeApp:
				outcome = "invalid_client"
				s.reportClientProblem(ctx, te)
				return &ClientProblemError{Err: te}
			}
		}
		if err != nil {
			outcome = refreshFailure(err)
			return fmt.Errorf("refresh token of connection %d: %w", connectionID, err)
		}
		if err := s.cfg.Store.SaveTokensTx(ctx, tx, connectionID, store.Tokens{
			AccessToken: nt.AccessToken, RefreshToken: nt.RefreshToken, Expiry: nt.Expiry,
		}); err != nil {
			return err
		}
		access, expiry, outcome = nt.AccessToken, nt.Expiry, "ok"
		if s.cfg.Scheduled != nil {
			return s.cfg.Scheduled(ctx, tx, connectionID, nt.Expiry)
		}
		return nil
	})
	if outcome != "" {
		refreshes.WithLabelValues(outcome).Inc()
	}
	s.recordAppRefusal(ctx, err)
	if err == nil && stopped != nil {
		// The needs_reauth or needs_admin status committed; the caller
		// learns why.
		return Issued{}, stopped
	}
	if err != nil {
		return Issued{}, err
	}
	if outcome == "ok" {
		s.appCredentialsAccepted(ctx)
		s.log.InfoContext(ctx, "refreshed access token", "connection_id", connectionID)
	}
	return Issued{AccessToken: access, Expiry: expiry, Refreshed: outcome == "ok"}, nil
}

// markReauthTx records that a connection's user must sign in again, with
// the AADSTS code and a plain-language reason.
func (s *Source) markReauthTx(ctx context.Context, tx store.Tx, conn *store.Connection, re *ReauthError) error {
	code := re.Err.Code
	if n := re.Err.AADSTS(); n != 0 {
		code = fmt.Sprintf("AADSTS%d", n)
	}
	if err := s.cfg.Store.SetStatusTx(ctx, tx, conn.ID, store.StatusNeedsReauth, code, re.Err.Reason()); err != nil {
		return err
	}
	s.log.WarnContext(ctx, "connection needs re-authentication", "connection_id", conn.ID, "code", code, "reason", re.Err.Reason())
	return nil
}

// scope is who a token failure is about (identity.TokenError.Scope), with
// one exception known only here: the app's own tenant (GRAPHSYNC_TENANT,
// when it names one) refusing it means the configuration is wrong, which
// is the app's problem, not that tenant's connections'.
func (s *Source) scope(conn *store.Connection, te *identity.TokenError) identity.Scope {
	sc := te.Scope()
	if sc == identity.ScopeTenant && strings.EqualFold(conn.TenantID, s.cfg.App.Tenant) {
		return identity.ScopeApp
	}
	return sc
}

// markTenantTx records that a tenant refuses the app on every active
// connection of the tenant, with the AADSTS code and a plain reason.
func (s *Source) markTenantTx(ctx context.Context, tx store.Tx, conn *store.Connection, te *TenantError) error {
	code := te.Err.Code
	if n := te.Err.AADSTS(); n != 0 {
		code = fmt.Sprintf("AADSTS%d", n)
	}
	reason := "tenant " + conn.TenantID + ": " + te.Err.Reason()
	ids, err := s.cfg.Store.SetTenantStatusTx(ctx, tx, conn.TenantID, store.StatusNeedsAdmin, code, reason)
	if err != nil {
		return err
	}
	s.log.WarnContext(ctx, "the tenant refuses the app; its connections wait for a tenant administrator",
		"connection_id", conn.ID, "tenant", conn.TenantID, "connections", len(ids), "code", code, "reason", te.Err.Reason())
	return nil
}

func (s *Source) authFor(tenant string) (*identity.Auth, error) {
	s.authMu.Lock()
	defer s.authMu.Unlock()
	if a, ok := s.auths[tenant]; ok {
		return a, nil
	}
	cfg := s.cfg.App
	cfg.Tenant = tenant
	a, err := identity.NewAuth(cfg)
	if err != nil {
		return nil, err
	}
	s.auths[tenant] = a
	return a, nil
}

// appCredentialsAccepted clears the app-wide alarm, and the refusal
// recorded for `graphsync status`: the identity platform just issued a
// token, so the app's credentials are good again.
func (s *Source) appCredentialsAccepted(ctx context.Context) {
	appCredentialsOK.Set(1)
	s.problemMu.Lock()
	clear(s.problemSeen)
	s.problemMu.Unlock()
	if s.appClean.Swap(true) {
		return
	}
	if err := s.cfg.Store.ClearAppRefusal(ctx); err != nil {
		s.appClean.Store(false)
		s.log.WarnContext(ctx, "clear the recorded refusal of the app's credentials", "error", err)
	}
}

// recordAppRefusal stores a refusal of the app's credentials (err is a
// *ClientProblemError) where every command can read it.
func (s *Source) recordAppRefusal(ctx context.Context, err error) {
	var cp *ClientProblemError
	if !errors.As(err, &cp) {
		return
	}
	s.appClean.Store(false)
	code := cp.Err.Code
	if n := cp.Err.AADSTS(); n != 0 {
		code += fmt.Sprintf(" AADSTS%d", n)
	}
	if rerr := s.cfg.Store.SetAppRefusal(context.WithoutCancel(ctx), code, cp.Err.Reason()); rerr != nil {
		s.log.WarnContext(ctx, "record the refusal of the app's credentials", "error", rerr)
	}
}

// reportClientProblem logs an app-credential failure loudly, once per code
// per hour in this process, instead of once per connection.
func (s *Source) reportClientProblem(ctx context.Context, te *identity.TokenError) {
	key := fmt.Sprintf("%s/%d", te.Code, te.AADSTS())
	s.problemMu.Lock()
	last, seen := s.problemSeen[key]
	if !seen || time.Since(last) > time.Hour {
		s.problemSeen[key] = time.Now()
	}
	s.problemMu.Unlock()
	appCredentialsOK.Set(0)
	if seen && time.Since(last) <= time.Hour {
		return
	}
	s.log.ErrorContext(ctx, "the identity platform refuses graphsync's app credentials; every connection is affected until the operator fixes GRAPHSYNC_CLIENT_ID / GRAPHSYNC_CLIENT_SECRET",
		"code", te.Code, "aadsts", te.AADSTS(), "reason", te.Reason())
}

// HasSharePoint reports whether a connection's grant covers SharePoint: a
// delegated grant with a Sites permission.
func HasSharePoint(c *store.Connection) bool {
	if c.Kind != store.KindDelegated {
		return false
	}
	for _, sc := range c.Scopes {
		name := sc[strings.LastIndex(sc, "/")+1:]
		switch strings.ToLower(name) {
		case "sites.read.all", "sites.readwrite.all", "sites.manage.all", "sites.fullcontrol.all":
			return true
		}
	}
	return false
}

// SharePoint returns the connection's stored SharePoint token while it is
// fresh, else redeems the refresh token for a new one with the connection's
// row locked, so that racing processes redeem once. The rotated refresh
// token is stored in the same transaction.
func (s *Source) SharePoint(ctx context.Context, connectionID int64) (store.SharePointToken, error) {
	t, _, err := s.sharePoint(ctx, connectionID)
	return t, err
}

func (s *Source) sharePoint(ctx context.Context, connectionID int64) (store.SharePointToken, bool, error) {
	st := s.cfg.Store
	fresh := func(t store.SharePointToken) bool {
		return t.AccessToken != "" && time.Until(t.Expiry) > s.cfg.RefreshAhead
	}
	cur, err := st.SharePointToken(ctx, connectionID)
	if err != nil || fresh(cur) {
		return cur, false, err
	}
	conn, err := st.Connection(ctx, connectionID)
	if err != nil {
		return store.SharePointToken{}, false, err
	}
	if !HasSharePoint(conn) {
		return store.SharePointToken{}, false, fmt.Errorf("connection %d: %w", connectionID, ErrNoSharePoint)
	}
	resource := cur.Resource
	if resource == "" {
		// A Graph call: made before the row is locked.
		if resource, err = s.discoverSharePoint(ctx, conn); err != nil {
			return store.SharePointToken{}, false, err
		}
	}
	var out store.SharePointToken
	outcome := ""
	err = st.InTx(ctx, func(tx store.Tx) error {
		conn, tok, err := st.LockTokensTx(ctx, tx, connectionID)
		if err != nil {
			return err
		}
		if conn.Status != store.StatusActive {
			return fmt.Errorf("SharePoint token of connection %d: %w (status %s)", connectionID, ErrNotActive, conn.Status)
		}
		if cur, err := st.SharePointTokenTx(ctx, tx, connectionID); err != nil {
			return err
		} else if fresh(cur) {
			out = cur // another process redeemed it meanwhile
			return nil
		}
		if tok.RefreshToken == "" {
			return fmt.Errorf("SharePoint token of connection %d: no refresh token stored", connectionID)
		}
		auth, err := s.authFor(conn.TenantID)
		if err != nil {
			return err
		}
		nt, err := auth.ResourceToken(ctx, tok.RefreshToken, resource)
		var te *identity.TokenError
		if errors.As(err, &te) {
			switch s.scope(conn, te) {
			case identity.ScopeApp:
				outcome = "invalid_client"
				s.reportClientProblem(ctx, te)
				return &ClientProblemError{Err: te}
			case identity.ScopeTenant:
				outcome = "needs_admin"
				return &TenantError{Tenant: conn.TenantID, Err: te}
			}
		}
		if err != nil {
			outcome = refreshFailure(err)
			return fmt.Errorf("SharePoint token of connection %d: %w", connectionID, err)
		}
		out = store.SharePointToken{Resource: resource, AccessToken: nt.AccessToken, Expiry: nt.Expiry}
		if err := st.SaveSharePointTokenTx(ctx, tx, connectionID, out); err != nil {
			return err
		}
		outcome = "ok"
		if nt.RefreshToken == tok.RefreshToken {
			return nil
		}
		return st.SaveTokensTx(ctx, tx, connectionID, store.Tokens{
			AccessToken: tok.AccessToken, RefreshToken: nt.RefreshToken, Expiry: tok.Expiry,
		})
	})
	if outcome != "" {
		refreshes.WithLabelValues(outcome).Inc()
	}
	s.recordAppRefusal(ctx, err)
	if err != nil {
		return store.SharePointToken{}, false, err
	}
	if outcome == "ok" {
		// After the commit: clearing the app's refusal takes a second
		// connection from the pool, which must not be waited for while
		// this transaction holds the connection's row lock (the other
		// pool connections may all be waiting for that lock).
		s.appCredentialsAccepted(ctx)
		s.log.InfoContext(ctx, "redeemed SharePoint access token", "connection_id", connectionID, "resource", resource)
	}
	return out, outcome == "ok", nil
}

// discoverSharePoint finds the tenant's SharePoint resource from the host
// of the user's OneDrive (GET /me/drive: webUrl).
func (s *Source) discoverSharePoint(ctx context.Context, conn *store.Connection) (string, error) {
	if s.cfg.Graph == nil {
		return "", fmt.Errorf("find the SharePoint host of connection %d: no Graph client configured", conn.ID)
	}
	call := graph.Call{Mailbox: conn.UserID, Tenant: conn.TenantID, Service: graphsync.OneDrive, Resource: graphsync.Drive.Name()}
	var drive graphsync.DriveInfo
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		if attempt == 0 {
			call.Token, err = s.Access(ctx, conn.ID)
		} else {
			call.Token, err = s.Refresh(ctx, conn.ID, call.Token)
		}
		if err != nil {
			return "", err
		}
		if err = s.cfg.Graph.Get(ctx, call, "/me/drive", &drive); !graph.IsUnauthorized(err) {
			break
		}
	}
	if err != nil {
		return "", fmt.Errorf("find the SharePoint host of connection %d: %w", conn.ID, err)
	}
	resource, err := identity.SharePointResource(drive.WebURL)
	if err != nil {
		return "", fmt.Errorf("find the SharePoint host of connection %d: %w", conn.ID, err)
	}
	return resource, nil
}
