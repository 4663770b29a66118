package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/graphsync/graphsync/api"
	"github.com/graphsync/graphsync/connect"
	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/verify"
	"github.com/graphsync/graphsync/jobs"
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

	for _, bad := range []string{"me/messages", "v2.0/me", "v1.0/", "v1.0/me/../../x", "v1.0/$batch", "beta/%24batch"} {
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

// TestProxyWriteQueuesSync marks a message read through the proxy: the
// write queues a sync of the mailbox's mail (no scheduler runs), and the
// tables show the write soon after. Without Mail.ReadWrite, Graph's 403
// comes back as it is and nothing is queued.
func TestProxyWriteQueuesSync(t *testing.T) {
	t.Parallel()
	b := setup(t, options{work: true, emu: emulatorUsers(2), extraScopes: []string{"Mail.ReadWrite"}})
	ctx := context.Background()
	if _, err := b.w.Jobs.EnqueueSync(ctx, b.client, 0, nil, jobs.Incremental); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, b.client, time.Minute)
	conn := b.conns[0]
	key, _ := b.key(t, store.NewAPIKey{All: true, Scopes: []string{store.ScopeProxy}})
	var id string
	if err := b.store.Pool().QueryRow(ctx, "SELECT id FROM mail_messages WHERE connection_id = $1 AND NOT is_read AND deleted_at IS NULL ORDER BY id LIMIT 1",
		conn.ID).Scan(&id); err != nil {
		t.Fatal(err)
	}
	status, body, _ := b.call(t, "PATCH", fmt.Sprintf("/v1/connections/%d/graph/v1.0/me/messages/%s", conn.ID, url.PathEscape(id)), key,
		strings.NewReader(`{"isRead": true, "categories": ["Blue category"]}`), "Content-Type", "application/json")
	if status != http.StatusOK || !contains(body, `"isRead":true`) {
		t.Fatalf("PATCH message: %d %s", status, body)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var read bool
		if err := b.store.Pool().QueryRow(ctx, "SELECT is_read FROM mail_messages WHERE connection_id = $1 AND id = $2", conn.ID, id).Scan(&read); err != nil {
			t.Fatal(err)
		}
		if read {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the write through the proxy did not reach the tables within 30 s: no sync was queued")
		}
		time.Sleep(100 * time.Millisecond)
	}
	waitIdle(t, b.client, time.Minute)
	results, err := verify.Resource(ctx, b.store.Pool(), b.em.URL(), conn.ID, conn.UserID, "mail")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if len(r.Diffs) > 0 {
			t.Errorf("%s differs from the ground truth: %v", r.Table, r.Diffs)
		}
	}

	// A connection granted Mail.Read only: Graph refuses, nothing is queued.
	other := b.conns[1]
	if _, err := b.store.Pool().Exec(ctx, "UPDATE connections SET scopes = array_remove(scopes, 'Mail.ReadWrite') WHERE id = $1", other.ID); err != nil {
		t.Fatal(err)
	}
	readOnly, err := connectReadOnly(t, b, other)
	if err != nil {
		t.Fatal(err)
	}
	jobsBefore := syncJobs(t, b)
	if err := b.store.Pool().QueryRow(ctx, "SELECT id FROM mail_messages WHERE connection_id = $1 AND NOT is_read AND deleted_at IS NULL ORDER BY id LIMIT 1",
		readOnly.ID).Scan(&id); err != nil {
		t.Fatal(err)
	}
	status, body, _ = b.call(t, "PATCH", fmt.Sprintf("/v1/connections/%d/graph/v1.0/me/messages/%s", readOnly.ID, url.PathEscape(id)), key,
		strings.NewReader(`{"isRead": true}`), "Content-Type", "application/json")
	if status != http.StatusForbidden || !contains(body, "ErrorAccessDenied") {
		t.Fatalf("PATCH without Mail.ReadWrite: %d %s", status, body)
	}
	if n := syncJobs(t, b); n != jobsBefore {
		t.Errorf("a refused write queued a sync: %d jobs, %d before", n, jobsBefore)
	}
}

// connectReadOnly signs the connection's user in again granting only the
// resources' own (read) permissions.
func connectReadOnly(t *testing.T, b *bundle, c *store.Connection) (*store.Connection, error) {
	t.Helper()
	return connect.Headless(context.Background(), connect.Config{Store: b.store, Auth: b.auth, Graph: b.w.Graph,
		Resources: c.Resources, LoginHint: c.UserPrincipalName})
}

func syncJobs(t *testing.T, b *bundle) int {
	t.Helper()
	res, err := b.client.JobList(context.Background(), river.NewJobListParams().Kinds(jobs.SyncArgs{}.Kind()).First(1000))
	if err != nil {
		t.Fatal(err)
	}
	return len(res.Jobs)
}

// TestProxyLimits refuses a request body over the limit before calling
// Graph, and an answer over it without passing it on.
func TestProxyLimits(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulatorUsers(1), apiCfg: func(c *api.Config) { c.MaxBody = 1024 }})
	conn := b.conns[0]
	key, _ := b.key(t, store.NewAPIKey{All: true, Scopes: []string{store.ScopeProxy}})
	path := fmt.Sprintf("/v1/connections/%d/graph/v1.0/me/", conn.ID)
	calls := totalRequests(b.em.Counters().Requests)
	status, body, _ := b.call(t, "PATCH", path+"messages/x", key, strings.NewReader(`{"categories":["`+strings.Repeat("a", 1100)+`"]}`),
		"Content-Type", "application/json")
	if status != http.StatusRequestEntityTooLarge || errorCode(t, body) != "body_too_large" {
		t.Errorf("body over the limit: %d %s", status, body)
	}
	if n := totalRequests(b.em.Counters().Requests); n != calls {
		t.Errorf("a body over the limit reached Graph")
	}
	status, body, _ = b.call(t, "GET", path+"mailFolders", key, nil)
	if status != http.StatusBadGateway || errorCode(t, body) != "response_too_large" {
		t.Errorf("answer over the limit: %d %.200s", status, body)
	}
	status, body, _ = b.call(t, "GET", path+"mailFolders?$select=id&$top=1", key, nil)
	if status != http.StatusOK {
		t.Errorf("answer within the limit: %d %s", status, body)
	}
}

// TestProxyTimeout answers 504 when Graph does not answer within the
// proxy's timeout.
func TestProxyTimeout(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{Users: 1, Latency: emulator.Latency{Min: 2 * time.Second, Max: 2 * time.Second}},
		apiCfg: func(c *api.Config) { c.ProxyTimeout = 300 * time.Millisecond }})
	conn := b.conns[0]
	key, _ := b.key(t, store.NewAPIKey{All: true, Scopes: []string{store.ScopeProxy}})
	start := time.Now()
	status, body, _ := b.call(t, "GET", fmt.Sprintf("/v1/connections/%d/graph/v1.0/me/mailFolders", conn.ID), key, nil)
	if status != http.StatusGatewayTimeout || errorCode(t, body) != "timeout" {
		t.Errorf("slow Graph: %d %s, want 504 timeout", status, body)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("answered after %s", d)
	}
}

// TestProxyWriteApplicationConnection writes through an application
// connection: a write naming a user by the id the sync knows queues that
// mailbox's sync; one naming the user by UPN succeeds at Graph but queues
// nothing (the UPN names no stream of the sync's).
func TestProxyWriteApplicationConnection(t *testing.T) {
	t.Parallel()
	b := setup(t, options{work: true, application: true, emu: emulatorUsers(2),
		roles: []string{"User.Read.All", "Mail.Read", "Mail.ReadWrite"}})
	ctx := context.Background()
	conn := b.conns[0]
	if _, err := b.w.Jobs.EnqueueSync(ctx, b.client, conn.ID, nil, jobs.Incremental); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, b.client, time.Minute)
	waitIdle(t, b.client, time.Minute) // discovery queues the users' syncs
	key, _ := b.key(t, store.NewAPIKey{All: true, Scopes: []string{store.ScopeProxy}})
	u := b.em.Users()[1]
	unread := func() string {
		var id string
		if err := b.store.Pool().QueryRow(ctx, "SELECT id FROM mail_messages WHERE connection_id = $1 AND user_id = $2 AND NOT is_read AND deleted_at IS NULL ORDER BY id LIMIT 1",
			conn.ID, u.ID).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	patch := func(user, id string) {
		t.Helper()
		status, body, _ := b.call(t, "PATCH", fmt.Sprintf("/v1/connections/%d/graph/v1.0/users/%s/messages/%s", conn.ID, url.PathEscape(user), url.PathEscape(id)),
			key, strings.NewReader(`{"isRead": true}`), "Content-Type", "application/json")
		if status != http.StatusOK {
			t.Fatalf("PATCH as the application: %d %s", status, body)
		}
	}
	jobsBefore := syncJobs(t, b)
	patch(u.UserPrincipalName, unread())
	if n := syncJobs(t, b); n != jobsBefore {
		t.Errorf("a write naming the user by UPN queued %d syncs", n-jobsBefore)
	}
	id := unread()
	patch(u.ID, id)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var read bool
		if err := b.store.Pool().QueryRow(ctx, "SELECT is_read FROM mail_messages WHERE connection_id = $1 AND user_id = $2 AND id = $3", conn.ID, u.ID, id).Scan(&read); err != nil {
			t.Fatal(err)
		}
		if read {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the write naming the user's id did not reach the tables within 30 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	var streams int
	if err := b.store.Pool().QueryRow(ctx, "SELECT count(*) FROM sync_state WHERE connection_id = $1 AND user_id = $2", conn.ID, u.UserPrincipalName).Scan(&streams); err != nil || streams != 0 {
		t.Errorf("%d streams under the user's UPN (%v)", streams, err)
	}
}
