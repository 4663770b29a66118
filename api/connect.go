package api

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/graphsync/graphsync/connect"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/origin"
	"github.com/graphsync/graphsync/store"
)

// CallbackPath is where the identity platform sends users back to;
// PublicURL+CallbackPath must be a redirect URI of the app registration.
const CallbackPath = "/connect/callback"

// sessionRequest is what an app asks a connect session for.
type sessionRequest struct {
	// Kind is delegated (a user signs in; the default) or application (a
	// tenant's administrator consents for the whole tenant).
	Kind      string   `json:"kind"`
	Resources []string `json:"resources"`
	// Tenant is a tenant id or domain, or common or organizations; the
	// default is the app's tenant (GRAPHSYNC_TENANT).
	Tenant    string `json:"tenant"`
	Prompt    string `json:"prompt"`
	LoginHint string `json:"login_hint"`
	// EndUser is the app's own id of its user, sent back with the result.
	EndUser   string `json:"end_user"`
	ReturnURL string `json:"return_url"`
}

// sessionBody is a created session.
type sessionBody struct {
	ID        int64     `json:"id"`
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
}

// createSession stores a pending connect session and returns the link to
// send the user to. A return URL off the allow-list is refused before
// anything else is looked at.
func (a *API) createSession(w http.ResponseWriter, r *http.Request, q *request) {
	var in sessionRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "the body is not a connect session request: "+err.Error())
		return
	}
	if err := a.allowedReturn(in.ReturnURL); err != nil {
		writeError(w, http.StatusBadRequest, "return_url_not_allowed", err.Error())
		return
	}
	if a.cfg.PublicURL == "" {
		writeError(w, http.StatusServiceUnavailable, "connect_unavailable", "hosted connect is off: the operator has not set GRAPHSYNC_API_URL")
		return
	}
	kind := in.Kind
	switch kind {
	case "":
		kind = store.KindDelegated
	case store.KindDelegated, store.KindApplication:
	default:
		writeError(w, http.StatusBadRequest, "bad_kind", fmt.Sprintf("kind %q is neither delegated nor application", in.Kind))
		return
	}
	rs, err := graphsync.ParseResources(strings.Join(in.Resources, ","))
	if err != nil || len(rs) == 0 {
		msg := "resources is empty: name what the connection syncs (mail, calendar, ...)"
		if err != nil {
			msg = err.Error()
		}
		writeError(w, http.StatusBadRequest, "bad_resources", msg)
		return
	}
	cs := &store.ConnectSession{APIKeyID: &q.key.ID, Kind: kind, Resources: rs, Tenant: in.Tenant, Prompt: in.Prompt,
		LoginHint: in.LoginHint, EndUser: in.EndUser, ReturnURL: in.ReturnURL}
	if cs.Tenant == "" {
		cs.Tenant = a.cfg.App.Tenant
	}
	if _, err := a.flow(cs); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	secret, cs, err := a.cfg.Store.CreateConnectSession(r.Context(), cs, a.cfg.SessionTTL)
	if err != nil {
		a.unavailable(w, r, "create the connect session", err)
		return
	}
	sessions.WithLabelValues("created").Inc()
	writeJSON(w, http.StatusCreated, sessionBody{ID: cs.ID, URL: a.cfg.PublicURL + "/connect/start/" + secret, ExpiresAt: cs.ExpiresAt.UTC()})
}

// flow is the connect flow of a session.
func (a *API) flow(cs *store.ConnectSession) (*connect.Flow, error) {
	auth := a.cfg.App
	auth.Tenant = cs.Tenant
	auth.RedirectURL = a.cfg.PublicURL + CallbackPath
	return connect.New(connect.Config{Store: a.cfg.Store, Auth: auth, Graph: a.cfg.Graph, Resources: cs.Resources,
		Prompt: cs.Prompt, LoginHint: cs.LoginHint, Application: cs.Kind == store.KindApplication, Logger: a.log})
}

// startSession sends the user of a pending session to the sign-in page,
// once; the state and PKCE verifier go to the database, so that any worker
// process can serve the callback.
func (a *API) startSession(w http.ResponseWriter, r *http.Request, _ *request) {
	state, verifier := randomState(), oauth2.GenerateVerifier()
	cs, err := a.cfg.Store.StartConnectSession(r.Context(), r.PathValue("session"), state, verifier)
	switch {
	case errors.Is(err, store.ErrSessionExpired):
		a.sendBack(w, r, cs, nil, "expired")
		return
	case errors.Is(err, store.ErrNotFound):
		page(w, http.StatusNotFound, "This sign-in link is not valid. Start again from the app.")
		return
	case errors.Is(err, store.ErrSessionUsed):
		sessions.WithLabelValues("replayed").Inc()
		page(w, http.StatusGone, "This sign-in link was already used. Start again from the app.")
		return
	case err != nil:
		a.log.ErrorContext(r.Context(), "start connect session", "error", err)
		page(w, http.StatusServiceUnavailable, "The sign-in cannot start now. Try again in a moment.")
		return
	}
	flow, err := a.flow(cs)
	if err != nil {
		a.log.ErrorContext(r.Context(), "connect session flow", "session_id", cs.ID, "error", err)
		a.sendBack(w, r, cs, nil, "sign_in_failed")
		return
	}
	http.Redirect(w, r, flow.AuthURL(state, verifier), http.StatusFound)
}

// callback takes the identity platform's answer for a started session,
// once, stores or updates the connection and sends the user back to the
// app's return URL with its id, or with an error code.
func (a *API) callback(w http.ResponseWriter, r *http.Request, _ *request) {
	ctx := r.Context()
	qv := r.URL.Query()
	state := qv.Get("state")
	if state == "" {
		page(w, http.StatusBadRequest, "The sign-in answer carries no state. Start again from the app.")
		return
	}
	cs, verifier, err := a.cfg.Store.ClaimConnectSession(ctx, state)
	switch {
	case errors.Is(err, store.ErrSessionExpired):
		a.sendBack(w, r, cs, nil, "expired")
		return
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrSessionUsed):
		sessions.WithLabelValues("replayed").Inc()
		page(w, http.StatusBadRequest, "This sign-in answer is unknown or was already used. Start again from the app.")
		return
	case err != nil:
		a.log.ErrorContext(ctx, "claim connect session", "error", err)
		page(w, http.StatusServiceUnavailable, "The sign-in cannot be completed now. Start again from the app in a moment.")
		return
	}
	flow, err := a.flow(cs)
	if err != nil {
		a.sendBack(w, r, cs, err, "sign_in_failed")
		return
	}
	c, tok, err := flow.Answer(ctx, qv, verifier)
	var ae *connect.AnswerError
	switch {
	case errors.As(err, &ae):
		a.sendBack(w, r, cs, err, ae.Code)
		return
	case err != nil:
		a.sendBack(w, r, cs, err, "sign_in_failed")
		return
	}
	conn, err := a.cfg.Store.CompleteConnectSession(ctx, cs.ID, c, tok)
	if err != nil {
		a.sendBack(w, r, cs, err, "sign_in_failed")
		return
	}
	cs.ConnectionID = &conn.ID
	a.log.InfoContext(ctx, "connect session completed", "session_id", cs.ID, "connection_id", conn.ID, "kind", conn.Kind)
	a.sendBack(w, r, cs, nil, "")
}

// sendBack redirects the user to the session's return URL with the
// connection's id, or records the failure and sends its code.
func (a *API) sendBack(w http.ResponseWriter, r *http.Request, cs *store.ConnectSession, cause error, code string) {
	if code != "" {
		sessions.WithLabelValues(code).Inc()
		if err := a.cfg.Store.FailConnectSession(r.Context(), cs.ID, code); err != nil {
			a.log.ErrorContext(r.Context(), "record the failure of a connect session", "session_id", cs.ID, "error", err)
		}
		a.log.InfoContext(r.Context(), "connect session failed", "session_id", cs.ID, "code", code, "error", cause)
	} else {
		sessions.WithLabelValues("completed").Inc()
	}
	u, err := url.Parse(cs.ReturnURL)
	if err != nil {
		page(w, http.StatusInternalServerError, "The app's return address is not valid.")
		return
	}
	v := u.Query()
	v.Set("session_id", strconv.FormatInt(cs.ID, 10))
	if cs.EndUser != "" {
		v.Set("end_user", cs.EndUser)
	}
	if code != "" {
		v.Set("error", code)
	} else {
		v.Set("connection_id", strconv.FormatInt(*cs.ConnectionID, 10))
	}
	u.RawQuery = v.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// allowedReturn checks a return URL against the allow-list: the origin of
// one of its entries and a path under that entry's path.
func (a *API) allowedReturn(raw string) error {
	if raw == "" {
		return errors.New("return_url is empty")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Fragment != "" {
		return fmt.Errorf("return_url %q is not an absolute http(s) URL without credentials or fragment", raw)
	}
	for _, entry := range a.cfg.ReturnURLs {
		allowed, _ := parseAllowed(entry)
		if origin.Of(u) != origin.Of(allowed) {
			continue
		}
		base := strings.TrimSuffix(allowed.EscapedPath(), "/")
		if p := u.EscapedPath(); p == base || strings.HasPrefix(p, base+"/") || base == "" {
			if !strings.Contains(p, "/../") && !strings.HasSuffix(p, "/..") {
				return nil
			}
		}
	}
	return fmt.Errorf("return_url %q is not on the operator's allow-list (GRAPHSYNC_CONNECT_RETURN_URLS)", raw)
}

// parseAllowed reads an allow-list entry.
func parseAllowed(entry string) (*url.URL, error) {
	u, err := url.Parse(entry)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("%q is not an http(s) URL without query or fragment", entry)
	}
	return u, nil
}

func randomState() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// page answers a browser with a short page.
func page(w http.ResponseWriter, status int, msg string) {
	noStore(w.Header(), "text/html; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!doctype html><title>graphsync</title><p>%s</p>\n", html.EscapeString(msg))
}
