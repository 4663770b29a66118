package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

// TestProxyForwards reads a mailbox through the proxy with the
// connection's token, refuses paths outside Graph's versions, and answers
// 429 with Retry-After without calling Graph while a Retry-After window
// recorded by another process is longer than the request may wait.
func TestProxyForwards(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulatorUsers(1)})
	conn := b.conns[0]
	key, _ := b.key(t, store.NewAPIKey{Connections: []int64{conn.ID}, Scopes: []string{store.ScopeProxy}})
	path := fmt.Sprintf("/v1/connections/%d/graph/", conn.ID)

	status, body, h := b.call(t, "GET", path+"v1.0/me/mailFolders", key, nil)
	if status != http.StatusOK {
		t.Fatalf("GET mailFolders: %d %s", status, body)
	}
	var page struct {
		Value []struct {
			ID          string `json:"id"`
			DisplayName string `json:"displayName"`
		} `json:"value"`
	}
	if err := json.Unmarshal(body, &page); err != nil || len(page.Value) == 0 || page.Value[0].DisplayName == "" {
		t.Fatalf("GET mailFolders: %v %s", err, body)
	}
	if h.Get("Content-Type") == "" || h.Get("request-id") == "" {
		t.Errorf("Graph's headers were not passed on: %v", h)
	}

	for _, bad := range []string{"me/messages", "v2.0/me", "v1.0/", "v1.0/me/../../x"} {
		status, body, _ := b.call(t, "GET", path+bad, key, nil)
		if status != http.StatusBadRequest {
			t.Errorf("GET %s: %d %s, want 400", bad, status, body)
		}
	}

	// Another process recorded a long window for the mailbox.
	scope := graphsync.ScopeOf(graphsync.Outlook, conn.TenantID, conn.UserID)
	if err := b.store.SetThrottle(context.Background(), scope, time.Now().Add(30*time.Second), "test"); err != nil {
		t.Fatal(err)
	}
	calls := totalRequests(b.em.Counters().Requests)
	status, body, h = b.call(t, "GET", path+"v1.0/me/mailFolders", key, nil, "Graphsync-Max-Wait", "1")
	if status != http.StatusTooManyRequests || errorCode(t, body) != "throttled" {
		t.Fatalf("inside a window: %d %s, want 429 throttled", status, body)
	}
	if ra, err := strconv.Atoi(h.Get("Retry-After")); err != nil || ra < 25 || ra > 30 {
		t.Errorf("Retry-After %q, want about 30", h.Get("Retry-After"))
	}
	// The tenant's other services are not held back by a mailbox's window.
	status, body, _ = b.call(t, "GET", path+"v1.0/me", key, nil)
	if status != http.StatusOK {
		t.Errorf("GET /me during the mailbox's window: %d %s", status, body)
	}
	if n := totalRequests(b.em.Counters().Requests); n != calls+1 {
		t.Errorf("Graph saw %d requests during the window, want only the one to /me", n-calls)
	}
	status, body, _ = b.call(t, "GET", path+"v1.0/me/mailFolders", key, nil, "Graphsync-Max-Wait", "600")
	if status != http.StatusBadRequest || errorCode(t, body) != "bad_max_wait" {
		t.Errorf("Graphsync-Max-Wait 600: %d %s", status, body)
	}
	if got := b.metric(t, `graphsync_api_proxy_requests_total{outcome="throttled_local"}`); got < 1 {
		t.Errorf("throttled_local outcomes: %v", got)
	}
}

// TestChangesOverHTTP reads the change feed with a key limited to one
// connection: only its changes come back, in pages, with cursors.
func TestChangesOverHTTP(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	own := b.conns[0]
	key, _ := b.key(t, store.NewAPIKey{Connections: []int64{own.ID}, Scopes: []string{store.ScopeChanges}})
	all, _ := b.key(t, store.NewAPIKey{All: true, Scopes: []string{store.ScopeChanges}})
	read := func(key, query string) (changes []map[string]any, next string, more bool) {
		t.Helper()
		status, body, _ := b.call(t, "GET", "/v1/changes?"+query, key, nil)
		if status != http.StatusOK {
			t.Fatalf("changes?%s: %d %s", query, status, body)
		}
		var p struct {
			Changes []map[string]any `json:"changes"`
			Next    string           `json:"next"`
			More    bool             `json:"more"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatal(err)
		}
		return p.Changes, p.Next, p.More
	}
	// Each connection's creation is an event of the feed.
	everything, _, _ := read(all, "")
	if len(everything) < 2 {
		t.Fatalf("%d changes for every connection, want the two creations", len(everything))
	}
	// In pages of one, every change the limited key reads is its
	// connection's.
	var mine []map[string]any
	next := ""
	for more := true; more; {
		var page []map[string]any
		page, next, more = read(key, "limit=1&after="+next)
		if len(page) > 1 {
			t.Fatalf("limit=1 read %d changes", len(page))
		}
		mine = append(mine, page...)
		if len(mine) > len(everything) {
			t.Fatal("the limited key reads more than everything")
		}
	}
	if len(mine) == 0 || len(mine) == len(everything) {
		t.Fatalf("limited key read %d of %d changes", len(mine), len(everything))
	}
	for _, c := range mine {
		if id := int64(c["connection_id"].(float64)); id != own.ID || c["cursor"] == "" {
			t.Fatalf("limited key read connection %d's change: %v", id, c)
		}
	}
	rest, _, _ := read(key, "after="+next)
	if len(rest) != 0 {
		t.Fatalf("after the last cursor: %d changes", len(rest))
	}
	status, body, _ := b.call(t, "GET", "/v1/changes?after=garbage", key, nil)
	if status != http.StatusBadRequest || errorCode(t, body) != "bad_cursor" {
		t.Errorf("bad cursor: %d %s", status, body)
	}
	status, body, _ = b.call(t, "GET", "/v1/changes?limit=0", key, nil)
	if status != http.StatusBadRequest || errorCode(t, body) != "bad_limit" {
		t.Errorf("limit 0: %d %s", status, body)
	}
}
