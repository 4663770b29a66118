package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/graphsync/graphsync/api"
	"github.com/graphsync/graphsync/store"
)

// app is the app's page users come back to; it records what they bring.
type app struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen []url.Values
}

func newApp(t *testing.T) *app {
	a := &app{}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.seen = append(a.seen, r.URL.Query())
		a.mu.Unlock()
		fmt.Fprintln(w, "welcome back")
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *app) last(t *testing.T) url.Values {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.seen) == 0 {
		t.Fatal("the user never came back to the app")
	}
	return a.seen[len(a.seen)-1]
}

// browser follows redirects with cookies, as a browser does, and returns
// the last response's status and URL.
func browse(t *testing.T, link string) (int, *url.URL, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	resp, err := c.Get(link)
	if err != nil {
		t.Fatalf("browse %s: %v", link, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Request.URL, string(body)
}

type session struct {
	ID        int64     `json:"id"`
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (b *bundle) createSession(t *testing.T, key string, body string) (int, session, []byte) {
	t.Helper()
	status, out, _ := b.call(t, "POST", "/v1/connect/sessions", key, strings.NewReader(body))
	var s session
	if status == http.StatusCreated {
		if err := json.Unmarshal(out, &s); err != nil {
			t.Fatal(err)
		}
	}
	return status, s, out
}

// TestHostedConnect creates a connect session in one worker process and
// completes it in another on the same database, with a browser-like client
// following redirects through the sign-in; the user comes back to the app
// with the new connection, which the key may then use. The link and the
// sign-in answer work once; an expired session sends the user back with
// error=expired; a return URL off the allow-list is refused before
// anything is stored.
func TestHostedConnect(t *testing.T) {
	t.Parallel()
	page := newApp(t)
	public := freeAddr(t)
	o := options{emu: emulatorUsers(2), noConnect: true, publicAddr: public, returnURLs: []string{page.srv.URL + "/connected"}}
	b := setup(t, o)
	// A second process on the same database serves the public address:
	// the links and the callbacks.
	b.process(t, o, store.New(b.store.Pool(), b.store.Keys()), public)

	key, k := b.key(t, store.NewAPIKey{Scopes: []string{store.ScopeConnect, store.ScopeToken}})
	user := b.em.Users()[1]

	// Off the allow-list: refused before anything is stored (the key's
	// last use aside: the request was the key's to make).
	sessionRows := func() string {
		var s string
		if err := b.store.Pool().QueryRow(context.Background(),
			"SELECT (SELECT count(*) FROM connect_sessions) || '/' || (SELECT count(*) FROM connections)").Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := sessionRows()
	for _, bad := range []string{"https://evil.example/connected", page.srv.URL + "/elsewhere", page.srv.URL + "/connected/../admin",
		page.srv.URL + "/connectedx", "", "javascript:alert(1)"} {
		status, _, body := b.createSession(t, key, fmt.Sprintf(`{"resources":["mail"],"return_url":%q}`, bad))
		if status != http.StatusBadRequest || errorCode(t, body) != "return_url_not_allowed" {
			t.Errorf("return URL %q: %d %s, want 400 return_url_not_allowed", bad, status, body)
		}
	}
	if after := sessionRows(); after != before || before != "0/0" {
		t.Errorf("refused sessions stored sessions or connections: %s, then %s", before, after)
	}

	// Created in the first process (b.base), completed in the second.
	status, s, body := b.createSession(t, key, fmt.Sprintf(`{"resources":["mail","calendar"],"tenant":"common","login_hint":%q,"end_user":"app-user-7","return_url":%q}`,
		user.UserPrincipalName, page.srv.URL+"/connected?tab=accounts"))
	if status != http.StatusCreated {
		t.Fatalf("create session: %d %s", status, body)
	}
	if !strings.HasPrefix(s.URL, "http://"+public+"/connect/start/") || time.Until(s.ExpiresAt) < 10*time.Minute {
		t.Fatalf("session %+v", s)
	}
	status, landed, text := browse(t, s.URL)
	if status != http.StatusOK || landed.Path != "/connected" {
		t.Fatalf("the browser ended at %s (%d): %s", landed, status, text)
	}
	back := page.last(t)
	if back.Get("error") != "" || back.Get("end_user") != "app-user-7" || back.Get("session_id") != strconv.FormatInt(s.ID, 10) || back.Get("tab") != "accounts" {
		t.Fatalf("came back with %v", back)
	}
	id, err := strconv.ParseInt(back.Get("connection_id"), 10, 64)
	if err != nil {
		t.Fatalf("came back with %v", back)
	}
	conn, err := b.store.Connection(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if conn.UserID != user.ID || len(conn.Resources) != 2 || conn.Status != store.StatusActive {
		t.Fatalf("stored connection %+v", conn)
	}
	// The key that created the session may use the connection now.
	status, body, _ = b.call(t, "GET", fmt.Sprintf("/v1/connections/%d/token", id), key, nil)
	if status != http.StatusOK || !contains(body, "access_token") {
		t.Fatalf("token of the new connection: %d %s", status, body)
	}
	keys, err := b.store.APIKeys(context.Background())
	if err != nil || len(keys) != 1 || keys[0].ID != k.ID || len(keys[0].Connections) != 1 || keys[0].Connections[0] != id {
		t.Fatalf("key after the session: %+v %v", keys, err)
	}

	// The link again: refused.
	status, landed, _ = browse(t, s.URL)
	if status != http.StatusGone || landed.Host != public {
		t.Errorf("link opened again: %d at %s, want 410 at the worker", status, landed)
	}

	// A replayed sign-in answer: refused, on either process.
	started := startOnly(t, b, key, page, user.UserPrincipalName)
	callback, err := url.Parse(started)
	if err != nil {
		t.Fatal(err)
	}
	status, _, _ = browse(t, started)
	if status != http.StatusOK || page.last(t).Get("connection_id") == "" {
		t.Fatalf("first answer: %d %v", status, page.last(t))
	}
	for _, base := range []string{"http://" + public, b.base} {
		status, landed, text := browse(t, base+callback.RequestURI())
		if status != http.StatusBadRequest || landed.Path != api.CallbackPath || !strings.Contains(text, "already used") {
			t.Errorf("replayed answer at %s: %d at %s: %s", base, status, landed, text)
		}
	}

	// An expired session sends the user back with error=expired.
	status, s, body = b.createSession(t, key, fmt.Sprintf(`{"resources":["mail"],"return_url":%q}`, page.srv.URL+"/connected"))
	if status != http.StatusCreated {
		t.Fatalf("create session: %d %s", status, body)
	}
	if _, err := b.store.Pool().Exec(context.Background(), "UPDATE connect_sessions SET expires_at = now() - interval '1 second' WHERE id = $1", s.ID); err != nil {
		t.Fatal(err)
	}
	status, landed, _ = browse(t, s.URL)
	if status != http.StatusOK || landed.Path != "/connected" || page.last(t).Get("error") != "expired" || page.last(t).Get("connection_id") != "" {
		t.Errorf("expired session: %d at %s with %v", status, landed, page.last(t))
	}
	var state string
	if err := b.store.Pool().QueryRow(context.Background(), "SELECT status || ':' || coalesce(error_code, '') FROM connect_sessions WHERE id = $1", s.ID).Scan(&state); err != nil || state != "failed:expired" {
		t.Errorf("expired session stored as %q (%v)", state, err)
	}

	// A session whose sign-in expired between start and callback.
	started = startOnly(t, b, key, page, user.UserPrincipalName)
	if _, err := b.store.Pool().Exec(context.Background(), "UPDATE connect_sessions SET expires_at = now() - interval '1 second' WHERE status = 'started'"); err != nil {
		t.Fatal(err)
	}
	status, _, _ = browse(t, started)
	if status != http.StatusOK || page.last(t).Get("error") != "expired" {
		t.Errorf("late answer: %d %v", status, page.last(t))
	}

	// Admin consent for an application connection, the same way.
	status, s, body = b.createSession(t, key, fmt.Sprintf(`{"kind":"application","resources":["mail"],"tenant":%q,"end_user":"admin","return_url":%q}`,
		b.em.TenantID(), page.srv.URL+"/connected"))
	if status != http.StatusCreated {
		t.Fatalf("create application session: %d %s", status, body)
	}
	status, landed, text = browse(t, s.URL)
	back = page.last(t)
	if status != http.StatusOK || back.Get("connection_id") == "" || back.Get("end_user") != "admin" {
		t.Fatalf("admin consent ended at %s (%d) with %v: %s", landed, status, back, text)
	}
	id, _ = strconv.ParseInt(back.Get("connection_id"), 10, 64)
	if conn, err = b.store.Connection(context.Background(), id); err != nil || conn.Kind != store.KindApplication || conn.TenantID != b.em.TenantID() {
		t.Fatalf("application connection %+v (%v)", conn, err)
	}

	// No verifier is left in the database once sessions end.
	var left int
	if err := b.store.Pool().QueryRow(context.Background(), "SELECT count(*) FROM connect_sessions WHERE verifier_enc IS NOT NULL").Scan(&left); err != nil || left != 0 {
		t.Errorf("%d sessions keep their verifier (%v)", left, err)
	}
}

// startOnly creates a session, opens its link and follows the redirects up
// to the callback without requesting it; it returns the callback's URL.
func startOnly(t *testing.T, b *bundle, key string, page *app, hint string) string {
	t.Helper()
	status, s, body := b.createSession(t, key, fmt.Sprintf(`{"resources":["mail"],"login_hint":%q,"return_url":%q}`, hint, page.srv.URL+"/connected"))
	if status != http.StatusCreated {
		t.Fatalf("create session: %d %s", status, body)
	}
	var callback string
	c := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if req.URL.Path == api.CallbackPath {
			callback = req.URL.String()
			return http.ErrUseLastResponse
		}
		return nil
	}}
	resp, err := c.Get(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if callback == "" {
		t.Fatalf("the sign-in did not come back to the callback: %d", resp.StatusCode)
	}
	return callback
}

// TestConnectNeedsPublicURL: without GRAPHSYNC_API_URL, sessions are
// refused with a code saying so.
func TestConnectNeedsPublicURL(t *testing.T) {
	t.Parallel()
	page := newApp(t)
	b := setup(t, options{emu: emulatorUsers(1), noConnect: true, returnURLs: []string{page.srv.URL}})
	key, _ := b.key(t, store.NewAPIKey{Scopes: []string{store.ScopeConnect}})
	status, _, body := b.createSession(t, key, fmt.Sprintf(`{"resources":["mail"],"return_url":%q}`, page.srv.URL+"/x"))
	if status != http.StatusServiceUnavailable || errorCode(t, body) != "connect_unavailable" {
		t.Fatalf("without a public URL: %d %s", status, body)
	}
}
