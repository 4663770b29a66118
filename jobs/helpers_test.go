package jobs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/graphsync/graphsync/connect"
	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/pgtest"
	"github.com/graphsync/graphsync/internal/verify"
	"github.com/graphsync/graphsync/jobs"
	"github.com/graphsync/graphsync/store"
)

const (
	testClientID = "graphsync-e2e"
	testSecret   = "e2e-secret-value"
)

type bundle struct {
	em     *emulator.Server
	store  *store.Store
	graph  *graphsync.Client
	svc    *jobs.Service
	client *river.Client[pgx.Tx]
	conns  []*store.Connection
	auth   graphsync.AuthConfig
}

type options struct {
	emu        emulator.Config
	jobs       func(*jobs.Config)
	graph      func(*graphsync.ClientConfig)
	noWorkers  bool
	connectAll bool
	// resources the connections sync; default mail only.
	resources []string
	// keys seals the tokens the connect flow stores; default a fresh key.
	keys *store.Keyring
	// application connects the tenant once through admin consent instead
	// of every user through their own sign-in.
	application bool
}

func freeRedirect(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return fmt.Sprintf("http://127.0.0.1:%d/callback", port)
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
		st = store.New(st.Pool(), o.keys)
	}
	gcfg := graphsync.ClientConfig{BaseURL: em.URL(), MaxPageSize: 50, Logger: testLogger()}
	if o.graph != nil {
		o.graph(&gcfg)
	}
	gc, err := graphsync.NewClient(gcfg)
	if err != nil {
		t.Fatal(err)
	}
	auth := graphsync.AuthConfig{LoginURL: em.URL(), Tenant: "common", ClientID: testClientID, ClientSecret: testSecret, RedirectURL: redirect}
	jcfg := jobs.Config{Store: st, Graph: gc, Auth: auth, Logger: testLogger(), DisableScheduler: true,
		PollInterval: 100 * time.Millisecond, SyncWorkers: 8}
	if o.jobs != nil {
		o.jobs(&jcfg)
	}
	svc, err := jobs.NewService(jcfg)
	if err != nil {
		t.Fatal(err)
	}
	client, err := svc.NewClient(!o.noWorkers)
	if err != nil {
		t.Fatal(err)
	}
	b := &bundle{em: em, store: st, graph: gc, svc: svc, client: client, auth: auth}
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
	b.connectAll(t, o.resources)
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

func (b *bundle) connectAll(t *testing.T, resources []string) {
	t.Helper()
	for _, u := range b.em.Users() {
		conn, err := connect.Headless(context.Background(), connect.Config{Store: b.store, Auth: b.auth, Graph: b.graph,
			Resources: resources, LoginHint: u.UserPrincipalName})
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
		Resources: resources, Application: true})
	if err != nil {
		t.Fatalf("admin consent: %v", err)
	}
	b.conns = append(b.conns, conn)
}

// syncNow enqueues every connection's syncs and waits until no sync job is
// left pending, running or snoozed.
func (b *bundle) syncNow(t *testing.T, timeout time.Duration) {
	t.Helper()
	ctx := context.Background()
	if _, err := b.svc.EnqueueSync(ctx, b.client, 0, nil); err != nil {
		t.Fatal(err)
	}
	b.waitIdle(t, timeout)
}

func (b *bundle) waitIdle(t *testing.T, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var active int
		var lastErr *string
		err := b.store.Pool().QueryRow(context.Background(), `SELECT count(*) FROM river_job
			WHERE kind = 'graphsync_sync' AND state IN ('available', 'running', 'retryable', 'scheduled', 'pending')`).Scan(&active)
		if err != nil {
			t.Fatal(err)
		}
		if active == 0 {
			var discarded int
			_ = b.store.Pool().QueryRow(context.Background(), `SELECT count(*), max(errors::text) FROM river_job WHERE kind = 'graphsync_sync' AND state = 'discarded'`).Scan(&discarded, &lastErr)
			if discarded > 0 {
				t.Fatalf("%d sync jobs discarded: %v", discarded, *lastErr)
			}
			return
		}
		if time.Now().After(deadline) {
			_ = b.store.Pool().QueryRow(context.Background(), `SELECT max(errors::text) FROM river_job WHERE kind = 'graphsync_sync'`).Scan(&lastErr)
			e := ""
			if lastErr != nil {
				e = *lastErr
			}
			t.Fatalf("syncs still active after %s (%d jobs); errors: %s", timeout, active, e)
		}
		time.Sleep(50 * time.Millisecond)
	}
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
