package bench

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"golang.org/x/oauth2"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graph"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/identity"
	"github.com/graphsync/graphsync/internal/pglocal"
	"github.com/graphsync/graphsync/internal/proc"
	gsworker "github.com/graphsync/graphsync/internal/worker"
	"github.com/graphsync/graphsync/jobs"
	"github.com/graphsync/graphsync/store"
)

const (
	benchClientID = "graphsync-bench"
	benchSecret   = "bench-secret-value"
)

// env is one scenario's world: an emulator, a migrated database of its own,
// application connections for every emulated user, and worker processes.
type env struct {
	o     *Options
	em    *emulator.Server
	dbURL string
	// pool is the harness's own handle on the scenario's database: it
	// reads the synced tables and River's jobs, and COPYs the baseline.
	pool  *pgxpool.Pool
	st    *store.Store
	svc   *jobs.Service
	river *river.Client[store.Tx]
	key   string
	// tenant is the authority the app signs in with: the emulator's tenant,
	// or "organizations" when users come from several tenants.
	tenant string
	conns  []*store.Connection
	drop   func()
}

// newEnv starts the emulator described by ecfg and a fresh database named
// after the scenario. Callers must close it.
func (o *Options) newEnv(ctx context.Context, name string, ecfg emulator.Config) (*env, error) {
	ecfg.Apps = []emulator.App{{ClientID: benchClientID, Secret: benchSecret, RedirectURIs: []string{"http://127.0.0.1:1/callback"}}}
	if ecfg.Seed == 0 {
		ecfg.Seed = 7
	}
	// Long-lived tokens: the benchmarks measure syncing, not refreshing.
	ecfg.AccessTokenLifetime = 12 * time.Hour
	t0 := time.Now()
	em, err := emulator.Start(ecfg)
	if err != nil {
		return nil, err
	}
	o.logf("%s: emulator ready in %s", name, time.Since(t0).Round(time.Millisecond))
	e := &env{o: o, em: em, tenant: em.TenantID()}
	if ecfg.Tenants > 1 {
		e.tenant = "organizations"
	}
	if err := e.openDatabase(ctx, name); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

func (e *env) openDatabase(ctx context.Context, name string) error {
	db := fmt.Sprintf("graphsync_bench_%s_%d", strings.ReplaceAll(name, "-", "_"), os.Getpid())
	admin, err := pgx.Connect(ctx, e.o.DatabaseURL)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", "DATABASE_URL", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", db, err)
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		return fmt.Errorf("create database %s: %w", db, err)
	}
	server := e.o.DatabaseURL
	e.drop = func() {
		c, err := pgx.Connect(context.Background(), server)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
	}
	e.dbURL = pglocal.WithDatabase(e.o.DatabaseURL, db)
	var key [32]byte
	_, _ = rand.Read(key[:])
	e.key = base64.StdEncoding.EncodeToString(key[:])
	keys, err := store.ParseKeyring(e.key)
	if err != nil {
		return err
	}
	pcfg, err := pgxpool.ParseConfig(e.dbURL)
	if err != nil {
		return err
	}
	pcfg.MaxConns = 8
	e.pool, err = pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return fmt.Errorf("open %s: %w", db, err)
	}
	e.st = store.New(e.pool, keys)
	if _, err := e.st.Migrate(ctx, nil); err != nil {
		return err
	}
	// This process only enqueues; the workers are separate processes.
	w, err := gsworker.New(gsworker.Config{Store: e.st, Graph: graph.Config{BaseURL: e.em.URL()}, App: e.auth(),
		Jobs: jobs.Config{DisableScheduler: true}})
	if err != nil {
		return err
	}
	e.svc = w.Jobs
	e.river, err = e.svc.NewClient(false)
	return err
}

func (e *env) auth() identity.Config {
	return identity.Config{LoginURL: e.em.URL(), Tenant: e.tenant, ClientID: benchClientID, ClientSecret: benchSecret,
		RedirectURL: "http://127.0.0.1:1/callback"}
}

func (e *env) close() {
	if e.pool != nil {
		e.pool.Close()
	}
	if e.drop != nil {
		e.drop()
	}
	if e.em != nil {
		_ = e.em.Close()
	}
}

// connect signs every emulated user in through the authorization-code flow
// (PKCE, the emulator consenting at once) and stores a delegated connection
// syncing resources. The browser's part is a single GET whose redirect
// carries the code, so thousands of users connect in seconds.
func (e *env) connect(ctx context.Context, resources []*graphsync.Resource) error {
	a, err := identity.NewAuth(e.auth())
	if err != nil {
		return err
	}
	scopes := graphsync.DelegatedScopes(resources)
	browser := &http.Client{Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	users := e.em.Users()
	conns := make([]*store.Connection, len(users))
	one := func(i int) error {
		u := users[i]
		verifier := oauth2.GenerateVerifier()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet,
			a.AuthCodeURL("bench", verifier, scopes, identity.AuthURLOptions{LoginHint: u.UserPrincipalName}), nil)
		if err != nil {
			return err
		}
		resp, err := browser.Do(req)
		if err != nil {
			return fmt.Errorf("sign in %s: %w", u.UserPrincipalName, err)
		}
		resp.Body.Close()
		loc, err := resp.Location()
		if err != nil {
			return fmt.Errorf("sign in %s: %s without a redirect", u.UserPrincipalName, resp.Status)
		}
		tok, err := a.Exchange(ctx, loc.Query().Get("code"), verifier, scopes)
		if err != nil {
			return fmt.Errorf("sign in %s: %w", u.UserPrincipalName, err)
		}
		c, err := e.st.SaveConnection(ctx, &store.Connection{Kind: store.KindDelegated, TenantID: tok.TenantID,
			UserID: u.ID, UserPrincipalName: u.UserPrincipalName, DisplayName: u.DisplayName, Scopes: tok.Scopes, Resources: resources},
			store.Tokens{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, Expiry: tok.Expiry})
		if err != nil {
			return err
		}
		conns[i] = c
		return nil
	}
	var wg sync.WaitGroup
	var first atomic.Value
	next := make(chan int)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if first.Load() != nil {
					continue
				}
				if err := one(i); err != nil {
					first.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	for i := range users {
		next <- i
	}
	close(next)
	wg.Wait()
	if err, ok := first.Load().(error); ok {
		return err
	}
	e.conns = conns
	return nil
}

// pass enqueues a sync of every connection's resources and waits until no
// sync job is left; it returns the jobs enqueued and the wall time.
func (e *env) pass(ctx context.Context, timeout time.Duration, opts ...jobs.EnqueueOption) (int, time.Duration, error) {
	if _, err := e.pool.Exec(ctx, "DELETE FROM river_job WHERE state = 'completed'"); err != nil {
		return 0, 0, err
	}
	start := time.Now()
	p, err := e.svc.EnqueueSync(ctx, e.river, 0, nil, opts...)
	if err != nil {
		return 0, 0, err
	}
	if err := e.waitIdle(ctx, start.Add(timeout)); err != nil {
		return p.Mailboxes(), time.Since(start), err
	}
	return p.Mailboxes(), time.Since(start), nil
}

// untilStored enqueues a pass and waits until n live messages are stored,
// returning how long that took; the pass's jobs may still be running.
func (e *env) untilStored(ctx context.Context, n int, timeout time.Duration) (time.Duration, error) {
	if _, err := e.pool.Exec(ctx, "DELETE FROM river_job WHERE state = 'completed'"); err != nil {
		return 0, err
	}
	// Counting the stored messages is a scan of the table: done four times
	// a second it took a fifth of a core from the pass being measured, more
	// as the table grew. The message streams' checkpoints count what their
	// pages upserted, in the same transactions as the rows, so the scan runs
	// only once they add up to n (folders count too: the last polls may
	// scan).
	poll := 250 * time.Millisecond
	start := time.Now()
	if _, err := e.svc.EnqueueSync(ctx, e.river, 0, nil); err != nil {
		return 0, err
	}
	for {
		var upserted, synced int
		var lastErr *string
		err := e.pool.QueryRow(ctx, `SELECT (SELECT coalesce(sum(upserted), 0) FROM sync_state WHERE resource = 'mail'),
			(SELECT max(errors::text) FROM river_job WHERE kind = 'graphsync_sync' AND state IN ('discarded', 'cancelled', 'retryable'))`).Scan(&upserted, &lastErr)
		if err == nil && lastErr == nil && upserted >= n {
			err = e.pool.QueryRow(ctx, "SELECT count(*) FROM mail_messages WHERE deleted_at IS NULL").Scan(&synced)
		}
		if err != nil {
			return 0, err
		}
		switch {
		case lastErr != nil:
			return 0, fmt.Errorf("a sync job failed after %d mail rows of %d messages were upserted: %.500s", upserted, n, *lastErr)
		case synced > n:
			return 0, fmt.Errorf("synced %d messages, the emulator holds %d", synced, n)
		case synced == n:
			return time.Since(start), nil
		case time.Since(start) > timeout:
			return 0, fmt.Errorf("%d mail rows upserted, %d of %d messages stored after %s", upserted, synced, n, timeout)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(poll):
		}
	}
}

func (e *env) waitIdle(ctx context.Context, deadline time.Time) error {
	for {
		var active, failed int
		var lastErr *string
		err := e.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE state IN ('available', 'running', 'retryable', 'scheduled', 'pending')),
			count(*) FILTER (WHERE state IN ('discarded', 'cancelled') OR (state = 'retryable')), max(errors::text)
			FROM river_job WHERE kind = 'graphsync_sync'`).Scan(&active, &failed, &lastErr)
		if err != nil {
			return err
		}
		if failed > 0 && lastErr != nil {
			return fmt.Errorf("%d sync jobs failed: %.500s", failed, *lastErr)
		}
		if active == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("syncs still active at the deadline (%d jobs)", active)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// worker is a child process running RunWorker.
type worker struct {
	cmd  *exec.Cmd
	addr string
	cfg  WorkerConfig
	done chan error
}

func (e *env) startWorker(ctx context.Context, tag string, tune func(*WorkerConfig)) (*worker, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	cfg := WorkerConfig{DatabaseURL: e.dbURL, GraphURL: e.em.URL(), Tenant: e.tenant, ClientID: benchClientID,
		ClientSecret: benchSecret, EncryptionKey: e.key, PageSize: e.o.pageSize(), SyncWorkers: 20, Addr: addr}
	if e.o.Profiles != "" && tag != "" {
		cfg.CPUProfile = e.o.Profiles + "/" + tag + ".cpu.pprof"
		cfg.HeapProfile = e.o.Profiles + "/" + tag + ".heap.pprof"
	}
	if tune != nil {
		tune(&cfg)
	}
	b, _ := json.Marshal(cfg)
	cmd := exec.Command(e.o.Self, "worker")
	cmd.Env = append(os.Environ(), workerEnv+"="+string(b))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start worker process: %w", err)
	}
	w := &worker{cmd: cmd, addr: addr, cfg: cfg, done: make(chan error, 1)}
	go func() { w.done <- cmd.Wait() }()
	// Ready when its stats endpoint answers.
	for i := 0; ; i++ {
		if _, err := w.stats(); err == nil {
			return w, nil
		}
		select {
		case err := <-w.done:
			return nil, fmt.Errorf("worker process exited at start: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		if i > 400 {
			w.stop()
			return nil, errors.New("worker process did not become ready in 20 s")
		}
	}
}

func (w *worker) stats() (workerStats, error) {
	var s workerStats
	resp, err := http.Get("http://" + w.addr + "/stats")
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

// stop ends the worker with SIGTERM and waits, so it writes its profiles.
func (w *worker) stop() {
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.done:
	case <-time.After(30 * time.Second):
		_ = w.cmd.Process.Kill()
		<-w.done
	}
}

// peakRSS is the process's high-water resident set (VmHWM) in bytes.
func (w *worker) peakRSS() (int64, error) { return proc.PeakRSS(w.cmd.Process.Pid) }

// cpu is the process's user plus system CPU time so far.
func (w *worker) cpu() (time.Duration, error) { return proc.CPU(w.cmd.Process.Pid) }
