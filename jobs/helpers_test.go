package jobs_test

import (
	"context"
	"encoding/json"
	"github.com/graphsync/graphsync/internal/loopback"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/graphsync/graphsync/connect"
	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graph"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/identity"
	"github.com/graphsync/graphsync/internal/pgtest"
	"github.com/graphsync/graphsync/internal/verify"
	"github.com/graphsync/graphsync/internal/worker"
	"github.com/graphsync/graphsync/jobs"
	"github.com/graphsync/graphsync/store"
	"github.com/graphsync/graphsync/syncer"
)

const (
	testClientID = "graphsync-e2e"
	testSecret   = "e2e-secret-value"
)

type bundle struct {
	em     *emulator.Server
	store  *store.Store
	graph  *graph.Client
	w      *worker.Worker
	svc    *jobs.Service
	client *river.Client[store.Tx]
	conns  []*store.Connection
	auth   identity.Config
	// skew moves the engine's clock ahead of the real one (elapse).
	skew *atomic.Int64
}

type options struct {
	emu emulator.Config
	// worker tunes the process's configuration.
	worker     func(*worker.Config)
	noWorkers  bool
	connectAll bool
	// resources the connections sync; default mail only.
	resources []string
	// keys seals the tokens the connect flow stores; default a fresh key.
	keys *store.Keyring
	// application connects the tenant once through admin consent instead
	// of every user through their own sign-in.
	application bool
	// extraScopes are requested on top of the resources' own.
	extraScopes []string
	// sites selects the SharePoint sites the worker syncs.
	sites func(em *emulator.Server) []string
}

func freeRedirect(t *testing.T) string {
	t.Helper()
	addr, err := loopback.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return "http://" + addr + "/callback"
}

func testLogger() *slog.Logger {
	if os.Getenv("GRAPHSYNC_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// setup starts an emulator, a migrated database, the Graph client and a
// River client working graphsync's queues, and connects every emulated user
// through the real OAuth flow.
func setup(t *testing.T, o options) *bundle {
	t.Helper()
	redirect := freeRedirect(t)
	o.emu.Apps = []emulator.App{{ClientID: testClientID, Secret: testSecret, RedirectURIs: []string{redirect}}}
	if o.emu.Seed == 0 {
		o.emu.Seed = 42
	}
	em, err := emulator.Start(o.emu)
	if err != nil {
		t.Fatalf("start emulator: %v", err)
	}
	t.Cleanup(func() { em.Close() })

	st := pgtest.Store(t)
	if o.keys != nil {
		st = st.WithKeys(o.keys)
	}
	auth := identity.Config{LoginURL: em.URL(), Tenant: "common", ClientID: testClientID, ClientSecret: testSecret, RedirectURL: redirect}
	skew := &atomic.Int64{}
	wcfg := worker.Config{Store: st, Logger: testLogger(), App: auth,
		Engine: syncer.Config{Now: func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }},
		Graph:  graph.Config{BaseURL: em.URL(), MaxPageSize: 50},
		Jobs:   jobs.Config{DisableScheduler: true, PollInterval: 100 * time.Millisecond, SyncWorkers: 8}}
	if o.worker != nil {
		o.worker(&wcfg)
	}
	if o.sites != nil {
		refs, err := graphsync.ParseSites(strings.Join(o.sites(em), ","))
		if err != nil {
			t.Fatal(err)
		}
		wcfg.Engine.Sites = refs
	}
	w, err := worker.New(wcfg)
	if err != nil {
		t.Fatal(err)
	}
	client, err := w.Jobs.NewClient(!o.noWorkers)
	if err != nil {
		t.Fatal(err)
	}
	b := &bundle{em: em, store: wcfg.Store, graph: w.Graph, w: w, svc: w.Jobs, client: client, auth: auth, skew: skew}
	if !o.noWorkers {
		b.start(t)
	}
	if len(o.resources) == 0 {
		o.resources = []string{"mail"}
	}
	if o.application {
		b.connectTenant(t, o.resources)
		return b
	}
	b.connectAll(t, o.resources, o.extraScopes)
	return b
}

func (b *bundle) start(t *testing.T) {
	t.Helper()
	if err := b.client.Start(context.Background()); err != nil {
		t.Fatalf("start river: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = b.client.Stop(ctx)
	})
}

func (b *bundle) connectAll(t *testing.T, resources, extraScopes []string) {
	t.Helper()
	for _, u := range b.em.Users() {
		conn, err := connect.Headless(context.Background(), connect.Config{Store: b.store, Auth: b.auth, Graph: b.graph,
			Resources: parseResources(t, resources), ExtraScopes: extraScopes, LoginHint: u.UserPrincipalName})
		if err != nil {
			t.Fatalf("connect %s: %v", u.UserPrincipalName, err)
		}
		if conn.UserID != u.ID {
			t.Fatalf("connected user id %s, want %s", conn.UserID, u.ID)
		}
		b.conns = append(b.conns, conn)
	}
}

// connectTenant stores an application connection for the emulator's tenant
// through the admin-consent flow.
func (b *bundle) connectTenant(t *testing.T, resources []string) {
	t.Helper()
	auth := b.auth
	auth.Tenant = b.em.TenantID()
	conn, err := connect.Headless(context.Background(), connect.Config{Store: b.store, Auth: auth, Graph: b.graph,
		Resources: parseResources(t, resources), Application: true})
	if err != nil {
		t.Fatalf("admin consent: %v", err)
	}
	b.conns = append(b.conns, conn)
}

// syncNow enqueues every connection's syncs, as the scheduler does, and
// waits until no sync job is left pending, running or snoozed.
func (b *bundle) syncNow(t *testing.T, timeout time.Duration) {
	t.Helper()
	ctx := context.Background()
	if _, err := b.svc.EnqueueSync(ctx, b.client, 0, nil, jobs.Incremental); err != nil {
		t.Fatal(err)
	}
	b.waitIdle(t, timeout)
}

// waitIdle waits until no sync job is left available, running, retryable,
// scheduled or pending, and fails on a discarded one.
func (b *bundle) waitIdle(t *testing.T, timeout time.Duration) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(timeout)
	list := func(states ...rivertype.JobState) []*rivertype.JobRow {
		res, err := b.client.JobList(ctx, river.NewJobListParams().Kinds(jobs.SyncArgs{}.Kind()).States(states...).First(10_000))
		if err != nil {
			t.Fatal(err)
		}
		return res.Jobs
	}
	lastError := func(rows []*rivertype.JobRow) string {
		for _, r := range slices.Backward(rows) {
			if len(r.Errors) > 0 {
				return r.Errors[len(r.Errors)-1].Error
			}
		}
		return ""
	}
	for {
		active := list(rivertype.JobStateAvailable, rivertype.JobStateRunning, rivertype.JobStateRetryable,
			rivertype.JobStateScheduled, rivertype.JobStatePending)
		if len(active) == 0 {
			if discarded := list(rivertype.JobStateDiscarded); len(discarded) > 0 {
				t.Fatalf("%d sync jobs discarded: %s", len(discarded), lastError(discarded))
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("syncs still active after %s (%d jobs); errors: %s", timeout, len(active), lastError(active))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// keyring parses a GRAPHSYNC_ENCRYPTION_KEY value.
func keyring(t *testing.T, spec string) *store.Keyring {
	t.Helper()
	kr, err := store.ParseKeyring(spec)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// parseResources reads the resources a test names.
func parseResources(t *testing.T, names []string) []*graphsync.Resource {
	t.Helper()
	rs, err := graphsync.ParseResources(strings.Join(names, ","))
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// assertMailMatchesTruth compares every connection's live folders and
// messages with the emulator's ground truth: the same ids, folders, subjects
// and read state, and nothing extra.
func (b *bundle) assertMailMatchesTruth(t *testing.T) {
	t.Helper()
	b.assertMatchesTruth(t, "mail")
}

// assertMatchesTruth compares every connection's rows of a resource with
// the emulator's ground truth.
func (b *bundle) assertMatchesTruth(t *testing.T, resource string) {
	t.Helper()
	for _, c := range b.conns {
		results, err := verify.Resource(context.Background(), b.store.Pool(), b.em.URL(), c.ID, c.UserID, resource)
		if err != nil {
			t.Fatal(err)
		}
		assertResults(t, c.ID, results)
	}
}

// assertResults fails on any difference, and on an empty truth, which
// would prove nothing.
func assertResults(t *testing.T, connectionID int64, results []verify.Result) {
	t.Helper()
	for _, r := range results {
		if len(r.Diffs) > 0 {
			t.Fatalf("connection %d %s differs from ground truth (%d truth, %d rows):\n%v", connectionID, r.Table, r.Truth, r.Rows, r.Diffs)
		}
		if r.Truth == 0 {
			t.Fatalf("ground truth of %s is empty; the comparison proves nothing", r.Table)
		}
	}
}

func (b *bundle) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := b.store.Pool().QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// truth reads the emulator's ground truth with immutable ids, as graphsync
// requests them.
func (b *bundle) truth(t *testing.T, userID, resource string) []json.RawMessage {
	t.Helper()
	out, err := verify.Truth(context.Background(), b.em.URL(), userID, resource)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// elapse moves the engine's clock ahead by d, as if d passed between two
// syncs (the chats' edit check, the calendar window).
func (b *bundle) elapse(d time.Duration) { b.skew.Add(int64(d)) }
