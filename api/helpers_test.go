package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/graphsync/graphsync/internal/loopback"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/graphsync/graphsync/api"
	"github.com/graphsync/graphsync/connect"
	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graph"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/identity"
	"github.com/graphsync/graphsync/internal/logtest"
	"github.com/graphsync/graphsync/internal/pgtest"
	"github.com/graphsync/graphsync/internal/worker"
	"github.com/graphsync/graphsync/jobs"
	"github.com/graphsync/graphsync/server"
	"github.com/graphsync/graphsync/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const (
	testClientID = "graphsync-api-test"
	testSecret   = "api-test-secret-value"
)

// bundle is an emulator, a database, a worker process with its API served
// by the worker's HTTP server, and the emulator's users connected.
type bundle struct {
	em     *emulator.Server
	store  *store.Store
	w      *worker.Worker
	client *river.Client[store.Tx]
	srv    *server.Server
	base   string // the API's base URL
	conns  []*store.Connection
	auth   identity.Config
	logs   *logtest.Buffer
}

type options struct {
	emu emulator.Config
	// publicURL is the API's public URL (hosted connect); its callback is
	// registered on the app.
	publicAddr string
	returnURLs []string
	// work starts River's workers (syncs).
	work      bool
	resources []*graphsync.Resource
	// extraScopes are asked for on top of the resources' (Mail.ReadWrite).
	extraScopes []string
	// application connects the tenant through admin consent instead of
	// each user, the app granted roles (nil: every read permission).
	application bool
	roles       []string
	noConnect   bool
	apiCfg      func(*api.Config)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := loopback.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

func setup(t *testing.T, o options) *bundle {
	t.Helper()
	redirect := "http://" + freeAddr(t) + "/callback"
	uris := []string{redirect}
	if o.publicAddr != "" {
		uris = append(uris, "http://"+o.publicAddr+api.CallbackPath)
	}
	o.emu.Apps = []emulator.App{{ClientID: testClientID, Secret: testSecret, RedirectURIs: uris, Roles: o.roles}}
	if o.emu.Seed == 0 {
		o.emu.Seed = 42
	}
	if o.emu.Users == 0 {
		o.emu.Users = 2
	}
	if o.emu.MessagesPerUser == 0 {
		o.emu.MessagesPerUser = 40
	}
	em, err := emulator.Start(o.emu)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { em.Close() })
	b := &bundle{em: em, store: pgtest.Store(t), logs: &logtest.Buffer{}}
	b.auth = identity.Config{LoginURL: em.URL(), Tenant: "common", ClientID: testClientID, ClientSecret: testSecret, RedirectURL: redirect}
	b.w, b.client, b.srv = b.process(t, o, b.store, "127.0.0.1:0")
	b.base = "http://" + b.srv.Addr()
	if len(o.resources) == 0 {
		o.resources = []*graphsync.Resource{graphsync.Mail}
	}
	if o.application {
		auth := b.auth
		auth.Tenant = em.TenantID()
		conn, err := connect.Headless(context.Background(), connect.Config{Store: b.store, Auth: auth, Graph: b.w.Graph,
			Resources: o.resources, Application: true})
		if err != nil {
			t.Fatalf("admin consent: %v", err)
		}
		b.conns = append(b.conns, conn)
		return b
	}
	if !o.noConnect {
		for _, u := range em.Users() {
			conn, err := connect.Headless(context.Background(), connect.Config{Store: b.store, Auth: b.auth, Graph: b.w.Graph,
				Resources: o.resources, ExtraScopes: o.extraScopes, LoginHint: u.UserPrincipalName})
			if err != nil {
				t.Fatalf("connect %s: %v", u.UserPrincipalName, err)
			}
			b.conns = append(b.conns, conn)
		}
	}
	return b
}

// process builds one worker process on st: its jobs, and its HTTP server
// serving the API on addr.
func (b *bundle) process(t *testing.T, o options, st *store.Store, addr string) (*worker.Worker, *river.Client[store.Tx], *server.Server) {
	t.Helper()
	w, err := worker.New(worker.Config{Store: st, Logger: b.logs.Logger(), App: b.auth,
		Graph: graph.Config{BaseURL: b.em.URL(), MaxPageSize: 20},
		Jobs:  jobs.Config{DisableScheduler: true, PollInterval: 100 * time.Millisecond, SyncWorkers: 4}})
	if err != nil {
		t.Fatal(err)
	}
	client, err := w.Jobs.NewClient(o.work)
	if err != nil {
		t.Fatal(err)
	}
	if o.work {
		if err := client.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = client.Stop(ctx)
		})
	}
	cfg := api.Config{ReturnURLs: o.returnURLs}
	if o.publicAddr != "" {
		cfg.PublicURL = "http://" + o.publicAddr
	}
	if o.apiCfg != nil {
		o.apiCfg(&cfg)
	}
	a, err := w.API(client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	srv, err := server.Start(ctx, server.Config{Addr: addr, Store: st, API: a, Logger: b.logs.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return w, client, srv
}

// key creates an API key.
func (b *bundle) key(t *testing.T, n store.NewAPIKey) (string, *store.APIKey) {
	t.Helper()
	if n.Name == "" {
		n.Name = "test app"
	}
	if n.Scopes == nil {
		n.Scopes = store.APIScopes
	}
	key, k, err := b.store.CreateAPIKey(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	return key, k
}

// call sends a request to the API with key (none when empty) and returns
// the status and body.
func (b *bundle) call(t *testing.T, method, path, key string, body io.Reader, header ...string) (int, []byte, http.Header) {
	t.Helper()
	return callAt(t, b.base, method, path, key, body, header...)
}

// callAt is call on the API at base.
func callAt(t *testing.T, base, method, path, key string, body io.Reader, header ...string) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out, resp.Header
}

// errorCode reads an error body's code.
func errorCode(t *testing.T, body []byte) string {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("not an error body: %v: %s", err, body)
	}
	return e.Error.Code
}

// expireToken makes a connection's stored access token expire in d.
func (b *bundle) expireToken(t *testing.T, id int64, d time.Duration) {
	t.Helper()
	if _, err := b.store.Pool().Exec(context.Background(),
		"UPDATE connections SET access_token_expires_at = now() + $2::interval WHERE id = $1", id, fmt.Sprintf("%d milliseconds", d.Milliseconds())); err != nil {
		t.Fatal(err)
	}
}

// refreshGrants counts refresh-token grants the emulator redeemed for user.
func (b *bundle) refreshGrants(user string) int { return len(b.em.Counters().RefreshGrants[user]) }

// rowsSnapshot is what a refused request must leave alone.
func (b *bundle) rowsSnapshot(t *testing.T) string {
	t.Helper()
	var s string
	err := b.store.Pool().QueryRow(context.Background(), `SELECT coalesce(string_agg(x, ';' ORDER BY x), '') FROM (
		SELECT 'c' || id || status || coalesce(token_refreshed_at::text, '') || updated_at::text AS x FROM connections
		UNION ALL SELECT 'k' || id || coalesce(last_used_at::text, '') || coalesce(revoked_at::text, '') FROM api_keys
		UNION ALL SELECT 's' || id || status FROM connect_sessions
		UNION ALL SELECT 't' || scope || until::text FROM throttle_windows) rows`).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func contains(body []byte, s string) bool { return strings.Contains(string(body), s) }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func emulatorUsers(n int) emulator.Config { return emulator.Config{Users: n} }

// metric reads a series' value from the worker's /metrics; series is its
// name and labels as exposed, e.g. graphsync_x_total{a="b"}.
func (b *bundle) metric(t *testing.T, series string) float64 {
	t.Helper()
	_, body, _ := b.call(t, "GET", "/metrics", "", nil)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("/metrics has no series %s", series)
	return 0
}
