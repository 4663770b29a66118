package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/graphsync/graphsync/store"
)

// TestRefusedRequestsTouchNothing sends requests without a key, with a
// malformed, unknown, revoked or expired key, without the route's scope,
// and for a connection the key may not use: each is answered 401 or 403
// and leaves the database and the identity platform alone.
func TestRefusedRequestsTouchNothing(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ctx := context.Background()
	own, other := b.conns[0], b.conns[1]
	key, _ := b.key(t, store.NewAPIKey{Connections: []int64{own.ID}})
	revoked, rk := b.key(t, store.NewAPIKey{All: true})
	if err := b.store.RevokeAPIKey(ctx, rk.ID); err != nil {
		t.Fatal(err)
	}
	expired, _ := b.key(t, store.NewAPIKey{All: true, ExpiresAt: time.Now().Add(time.Second)})
	tokenOnly, _ := b.key(t, store.NewAPIKey{All: true, Scopes: []string{store.ScopeToken}})
	time.Sleep(1100 * time.Millisecond)
	// Tokens about to expire: a request that got through would refresh them.
	b.expireToken(t, own.ID, 10*time.Second)
	b.expireToken(t, other.ID, 10*time.Second)
	before, grants := b.rowsSnapshot(t), b.em.Counters().RefreshGrants
	graphCalls := totalRequests(b.em.Counters().Requests)

	tokenPath := func(id int64) string { return fmt.Sprintf("/v1/connections/%d/token", id) }
	proxyPath := func(id int64) string { return fmt.Sprintf("/v1/connections/%d/graph/v1.0/me/messages", id) }
	forgedKey := key[:len(key)-4] + "AAAA"
	cases := []struct {
		name, method, path, key string
		status                  int
		code                    string
	}{
		{"no key", "GET", tokenPath(own.ID), "", 401, "unauthorized"},
		{"malformed key", "GET", tokenPath(own.ID), "not-a-key", 401, "unauthorized"},
		{"forged key with a real prefix", "GET", tokenPath(own.ID), forgedKey, 401, "unauthorized"},
		{"revoked key", "GET", tokenPath(own.ID), revoked, 401, "unauthorized"},
		{"expired key", "GET", tokenPath(own.ID), expired, 401, "unauthorized"},
		{"other connection's token", "GET", tokenPath(other.ID), key, 403, "connection_denied"},
		{"other connection's proxy", "GET", proxyPath(other.ID), key, 403, "connection_denied"},
		{"other connection's proxy write", "DELETE", proxyPath(other.ID) + "/x", key, 403, "connection_denied"},
		{"other connection's changes", "GET", fmt.Sprintf("/v1/changes?connections=%d", other.ID), key, 403, "connection_denied"},
		{"proxy without its scope", "GET", proxyPath(own.ID), tokenOnly, 403, "scope_denied"},
		{"changes without its scope", "GET", "/v1/changes", tokenOnly, 403, "scope_denied"},
		{"session without its scope", "POST", "/v1/connect/sessions", tokenOnly, 403, "scope_denied"},
		{"revoked key, proxy", "GET", proxyPath(own.ID), revoked, 401, "unauthorized"},
	}
	for _, c := range cases {
		status, body, h := b.call(t, c.method, c.path, c.key, strings.NewReader(`{"return_url":"http://x"}`))
		if status != c.status || errorCode(t, body) != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, status, body, c.status, c.code)
		}
		if status == http.StatusUnauthorized && h.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", c.name)
		}
	}
	if after := b.rowsSnapshot(t); after != before {
		t.Errorf("refused requests changed the database:\nbefore %s\nafter  %s", before, after)
	}
	if got := b.em.Counters().RefreshGrants; len(got[own.UserID]) != len(grants[own.UserID]) || len(got[other.UserID]) != len(grants[other.UserID]) {
		t.Errorf("refused requests refreshed tokens at the identity platform")
	}
	if n := totalRequests(b.em.Counters().Requests); n != graphCalls {
		t.Errorf("refused requests reached Graph: %d requests, %d before", n, graphCalls)
	}
	if strings.Contains(b.logs.String(), key) || strings.Contains(b.logs.String(), revoked) {
		t.Error("a key appears in the logs")
	}
	if !strings.Contains(b.logs.String(), "api request") {
		t.Error("API requests are not logged")
	}
}

func totalRequests(m map[string]map[int]int64) int64 {
	var n int64
	for _, byStatus := range m {
		for _, c := range byStatus {
			n += c
		}
	}
	return n
}

// TestConcurrentTokenRequestsRefreshOnce asks for the token of a
// connection about to expire 50 times at once, half of them of a second
// worker process on the same database: the identity platform sees exactly
// one refresh, and every answer carries the same new token.
func TestConcurrentTokenRequestsRefreshOnce(t *testing.T) {
	t.Parallel()
	o := options{emu: emulatorUsers(1)}
	b := setup(t, o)
	_, _, other := b.process(t, o, store.New(b.store.Pool(), b.store.Keys()), "127.0.0.1:0")
	bases := []string{b.base, "http://" + other.Addr()}
	conn := b.conns[0]
	key, _ := b.key(t, store.NewAPIKey{Connections: []int64{conn.ID}, Scopes: []string{store.ScopeToken}})
	b.expireToken(t, conn.ID, 20*time.Second)
	grants := b.refreshGrants(conn.UserID)
	refreshed := b.metric(t, `graphsync_api_token_requests_total{outcome="refreshed",resource="graph"}`)
	cached := b.metric(t, `graphsync_api_token_requests_total{outcome="cached",resource="graph"}`)

	const n = 50
	var wg sync.WaitGroup
	tokens := make([]string, n)
	errs := make(chan string, n)
	for i := range n {
		wg.Go(func() {
			status, body, _ := callAt(t, bases[i%2], "GET", fmt.Sprintf("/v1/connections/%d/token", conn.ID), key, nil)
			if status != http.StatusOK {
				errs <- fmt.Sprintf("%d %s", status, body)
				return
			}
			var tok struct {
				AccessToken string    `json:"access_token"`
				ExpiresAt   time.Time `json:"expires_at"`
			}
			if err := jsonUnmarshal(body, &tok); err != nil || tok.AccessToken == "" || time.Until(tok.ExpiresAt) < 10*time.Minute {
				errs <- fmt.Sprintf("bad token body: %v %s", err, body)
				return
			}
			tokens[i] = tok.AccessToken
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if got := b.refreshGrants(conn.UserID) - grants; got != 1 {
		t.Errorf("%d refreshes at the identity platform, want exactly 1", got)
	}
	for _, tok := range tokens[1:] {
		if tok != tokens[0] {
			t.Fatal("concurrent requests got different tokens")
		}
	}
	// Other tests in the package share the counters: at least this test's.
	if d := b.metric(t, `graphsync_api_token_requests_total{outcome="refreshed",resource="graph"}`) - refreshed; d < 1 {
		t.Errorf("graphsync_api_token_requests_total{outcome=refreshed} grew by %v", d)
	}
	if d := b.metric(t, `graphsync_api_token_requests_total{outcome="cached",resource="graph"}`) - cached; d < n-1 {
		t.Errorf("graphsync_api_token_requests_total{outcome=cached} grew by %v, want at least %d", d, n-1)
	}
}

// TestTokenNeedsReauth: a connection whose grant was revoked answers 409
// needs_reauth, and is marked so.
func TestTokenNeedsReauth(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulatorUsers(1)})
	conn := b.conns[0]
	key, _ := b.key(t, store.NewAPIKey{All: true})
	b.em.RevokeGrant(conn.UserID)
	b.expireToken(t, conn.ID, 0)
	status, body, _ := b.call(t, "GET", fmt.Sprintf("/v1/connections/%d/token", conn.ID), key, nil)
	if status != http.StatusConflict || errorCode(t, body) != store.StatusNeedsReauth {
		t.Fatalf("revoked grant: %d %s, want 409 needs_reauth", status, body)
	}
	// Asked again, the connection is not active any more: still needs_reauth.
	status, body, _ = b.call(t, "GET", fmt.Sprintf("/v1/connections/%d/token", conn.ID), key, nil)
	if status != http.StatusConflict || errorCode(t, body) != store.StatusNeedsReauth {
		t.Fatalf("second request: %d %s, want 409 needs_reauth", status, body)
	}
	status, body, _ = b.call(t, "GET", "/v1/connections/999999/token", key, nil)
	if status != http.StatusNotFound || errorCode(t, body) != "connection_not_found" {
		t.Fatalf("unknown connection: %d %s", status, body)
	}
	status, body, _ = b.call(t, "GET", fmt.Sprintf("/v1/connections/%d/token?resource=exchange", conn.ID), key, nil)
	if status != http.StatusBadRequest || errorCode(t, body) != "bad_resource" {
		t.Fatalf("unknown resource: %d %s", status, body)
	}
}
