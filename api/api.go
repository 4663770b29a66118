package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/graphsync/graphsync/changes"
	"github.com/graphsync/graphsync/graph"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/identity"
	"github.com/graphsync/graphsync/store"
	"github.com/graphsync/graphsync/token"
)

// Scheduler queues a sync of one mailbox's resource; the jobs do it
// (internal/worker hands their entry point over).
type Scheduler interface {
	Sync(ctx context.Context, conn int64, user string, r *graphsync.Resource, at time.Time) error
}

// Config configures the API.
type Config struct {
	Store  *store.Store
	Tokens *token.Source
	Graph  *graph.Client
	// Sync, when set, is asked for a sync of what a write through the
	// proxy changed.
	Sync Scheduler
	// App is the app registration the hosted connect sessions sign in
	// with; its Tenant and RedirectURL are replaced per session.
	App identity.Config
	// PublicURL is the base URL browsers reach this API at. Hosted connect
	// needs it: sessions' links point there, and PublicURL+"/connect/callback"
	// must be a redirect URI of the app registration.
	PublicURL string
	// ReturnURLs are the URLs an app may send its users back to after a
	// hosted connect session: a return URL must have the origin of one and
	// a path under its path.
	ReturnURLs []string
	// SessionTTL bounds a connect session, from its creation to the
	// callback (default 15 minutes).
	SessionTTL time.Duration
	// MaxBody bounds the body of a proxied request and of its answer
	// (default 64 MiB).
	MaxBody int64
	// MaxWait is how long a proxied request waits for a Retry-After window
	// of its scope when it does not say (Graphsync-Max-Wait); longer
	// windows are answered 429 with Retry-After (default 5 s, at most
	// MaxWaitCap).
	MaxWait time.Duration
	// ProxyTimeout bounds a proxied request, its answer's body included
	// (default 100 s).
	ProxyTimeout time.Duration
	Logger       *slog.Logger
}

// MaxWaitCap is the longest wait a proxied request may ask for.
const MaxWaitCap = 60 * time.Second

// HeaderMaxWait is the request header that sets how long a proxied request
// may wait for a Retry-After window, in seconds.
const HeaderMaxWait = "Graphsync-Max-Wait"

func (c *Config) validate() error {
	switch {
	case c.Store == nil:
		return errors.New("api config: Store is nil")
	case c.Tokens == nil:
		return errors.New("api config: Tokens is nil")
	case c.Graph == nil:
		return errors.New("api config: Graph is nil")
	case c.MaxWait < 0 || c.MaxWait > MaxWaitCap:
		return fmt.Errorf("api config: MaxWait %s is not between 0 and %s", c.MaxWait, MaxWaitCap)
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("api config: PublicURL %q is not an http(s) base URL", c.PublicURL)
		}
	}
	for _, r := range c.ReturnURLs {
		if _, err := parseAllowed(r); err != nil {
			return fmt.Errorf("api config: ReturnURLs: %w", err)
		}
	}
	return nil
}

// API serves the routes.
type API struct {
	cfg  Config
	log  *slog.Logger
	feed *changes.Feed
	mux  *http.ServeMux
}

// New validates cfg and returns the API's handler, serving /v1/ and
// /connect/.
func New(cfg Config) (*API, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 15 * time.Minute
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 64 << 20
	}
	if cfg.MaxWait == 0 {
		cfg.MaxWait = 5 * time.Second
	}
	if cfg.ProxyTimeout <= 0 {
		cfg.ProxyTimeout = 100 * time.Second
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	a := &API{cfg: cfg, log: cfg.Logger.With("component", "api"), feed: changes.NewFeed(cfg.Store), mux: http.NewServeMux()}
	a.routes()
	return a, nil
}

// ServeHTTP serves the API.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// route is one route of the API: its pattern (Go's ServeMux), the key
// scope it needs ("" for the routes a browser follows without a key) and
// whether it names a connection ({id}) the key must cover.
type route struct {
	pattern string
	scope   string
	conn    bool
	handle  func(w http.ResponseWriter, r *http.Request, q *request)
}

// request is what the middleware found out about a request.
type request struct {
	key  *store.APIKey // nil on keyless routes
	conn int64         // the {id} of a connection route
}

// Routes lists every route, for the OpenAPI test.
func (a *API) Routes() []string {
	var out []string
	for _, rt := range a.table() {
		out = append(out, rt.pattern)
	}
	return out
}

func (a *API) table() []route {
	return []route{
		{"GET /v1/openapi.json", "", false, a.openAPI},
		{"GET /v1/connections/{id}/token", store.ScopeToken, true, a.token},
		{"GET /v1/changes", store.ScopeChanges, false, a.changes},
		{"/v1/connections/{id}/graph/{path...}", store.ScopeProxy, true, a.proxy},
		{"POST /v1/connect/sessions", store.ScopeConnect, false, a.createSession},
		{"GET /connect/start/{session}", "", false, a.startSession},
		{"GET /connect/callback", "", false, a.callback},
	}
}

func (a *API) routes() {
	for _, rt := range a.table() {
		a.mux.Handle(rt.pattern, a.wrap(rt))
	}
	a.mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such route: see /v1/openapi.json")
	})
}

// wrap authenticates and authorizes a request before its handler runs,
// and counts and logs it, never with its key.
func (a *API) wrap(rt route) http.Handler {
	label := rt.pattern
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		q := &request{}
		defer func() {
			requests.WithLabelValues(label, strconv.Itoa(sw.status())).Inc()
			attrs := []any{"route", label, "method", r.Method, "status", sw.status(), "duration", time.Since(start)}
			if q.key != nil {
				attrs = append(attrs, "api_key_id", q.key.ID, "api_key", q.key.Name)
			}
			if q.conn != 0 {
				attrs = append(attrs, "connection_id", q.conn)
			}
			a.log.InfoContext(r.Context(), "api request", attrs...)
		}()
		if rt.scope != "" {
			key, ok := a.authenticate(r.Context(), sw, r)
			if !ok {
				return
			}
			q.key = key
			if !key.Allows(rt.scope) {
				writeError(sw, http.StatusForbidden, "scope_denied", fmt.Sprintf("this API key lacks the %s scope", rt.scope))
				return
			}
		}
		if rt.conn {
			id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
			if err != nil || id <= 0 {
				writeError(sw, http.StatusBadRequest, "bad_connection_id", fmt.Sprintf("connection id %q is not a positive number", r.PathValue("id")))
				return
			}
			if !q.key.Covers(id) {
				writeError(sw, http.StatusForbidden, "connection_denied", fmt.Sprintf("this API key may not use connection %d", id))
				return
			}
			q.conn = id
		}
		rt.handle(sw, r, q)
		if s := sw.status(); q.key != nil && s != http.StatusUnauthorized && s != http.StatusForbidden {
			// Only a request the key was allowed to make counts as a use.
			if err := a.cfg.Store.TouchAPIKey(context.WithoutCancel(r.Context()), q.key.ID); err != nil {
				a.log.WarnContext(r.Context(), "record the use of an API key", "api_key_id", q.key.ID, "error", err)
			}
		}
	})
}

// authenticate reads the bearer key; on failure it has answered 401.
func (a *API) authenticate(ctx context.Context, w http.ResponseWriter, r *http.Request) (*store.APIKey, bool) {
	fail := func(msg string) (*store.APIKey, bool) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="graphsync"`)
		writeError(w, http.StatusUnauthorized, "unauthorized", msg)
		return nil, false
	}
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || strings.TrimSpace(raw) == "" {
		return fail("send an API key as a bearer token (Authorization: Bearer gsk_...)")
	}
	key, err := a.cfg.Store.AuthenticateAPIKey(ctx, strings.TrimSpace(raw))
	switch {
	case errors.Is(err, store.ErrKeyInvalid), errors.Is(err, store.ErrKeyRevoked), errors.Is(err, store.ErrKeyExpired):
		return fail(err.Error())
	case err != nil:
		a.log.ErrorContext(ctx, "authenticate API key", "error", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "cannot check the API key now; retry")
		return nil, false
	}
	return key, true
}

// statusWriter remembers the status written; Unwrap lets
// http.ResponseController reach the connection (flushes while streaming).
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

// errorBody is every error's JSON: a stable code to branch on and a
// message for people.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	var b errorBody
	b.Error.Code, b.Error.Message = code, msg
	writeJSON(w, status, b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	noStore(w.Header(), "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// noStore sets the headers of every answer the API writes itself: its
// type, and neither cached nor sniffed (tokens, session pages).
func noStore(h http.Header, contentType string) {
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
}
