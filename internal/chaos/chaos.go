// Package chaos runs graphsync's worker as real processes against the
// emulator while it kills them with SIGKILL, restarts PostgreSQL, injects
// Graph and token endpoint faults, mutates the tenant and runs several
// workers at once; then it stops the chaos, runs one clean sync and checks
// that every table equals the emulator's ground truth (every column, and
// the rows of what was deleted since it was synced) and that no
// throttling, concurrency, rescue or refresh rule was broken.
package chaos

import (
	"context"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/graphsync/graphsync/connect"
	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graph"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/identity"
	"github.com/graphsync/graphsync/internal/pglocal"
	gsworker "github.com/graphsync/graphsync/internal/worker"
	"github.com/graphsync/graphsync/jobs"
	"github.com/graphsync/graphsync/store"
)

// Options sizes a run. Zero values take the defaults of `make chaos`.
type Options struct {
	// Duration is the chaos phase (kills, faults, mutations); the clean
	// sync and the checks come after it. Default 8 minutes.
	Duration time.Duration
	// Users and MessagesPerUser size the tenant (default 5 × 20,000).
	Users, MessagesPerUser int
	// Kills is how many times a worker gets SIGKILL (default 24).
	Kills int
	// RiverRescues is how many of the last kills leave the killed worker's
	// jobs to River's own rescuer (default a quarter of Kills, at least
	// one); the harness hands back the others' at once.
	RiverRescues int
	// PostgresRestarts is how many times PostgreSQL restarts with
	// immediate shutdown (default 1).
	PostgresRestarts int
	// Workers run at once during the multi-worker part (default 3).
	Workers int
	// FaultRate is the share of Graph responses faulted (default 0.05).
	FaultRate float64
	// MutationRate is changes per second in the tenant (default 20).
	MutationRate float64
	// GraphTimeout is the workers' per-request timeout (default 5s); slow
	// faults take longer.
	GraphTimeout time.Duration
	// FinalTimeout bounds the clean sync (default 10 minutes).
	FinalTimeout time.Duration
	Seed         int64
	// Binary is the graphsync executable; built into Dir when empty.
	Binary string
	// Dir keeps the workers' logs; a temporary directory when empty.
	Dir string
	// Out receives progress lines; nil discards them.
	Out io.Writer
}

func (o *Options) defaults() {
	def := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	if o.Duration <= 0 {
		o.Duration = 8 * time.Minute
	}
	def(&o.Users, 5)
	def(&o.MessagesPerUser, 20000)
	def(&o.Kills, 24)
	def(&o.RiverRescues, max(1, o.Kills/4))
	def(&o.PostgresRestarts, 1)
	def(&o.Workers, 3)
	if o.FaultRate <= 0 {
		o.FaultRate = 0.05
	}
	if o.MutationRate <= 0 {
		o.MutationRate = 20
	}
	if o.GraphTimeout <= 0 {
		o.GraphTimeout = 5 * time.Second
	}
	if o.FinalTimeout <= 0 {
		o.FinalTimeout = 10 * time.Minute
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
}

const (
	clientID = "graphsync-chaos"
	secret   = "chaos-client-secret"
	// refreshAhead is the workers' default (token.DefaultRefreshAhead):
	// tokens are refreshed this long before they expire.
	refreshAhead = 10 * time.Minute
	// mailboxCap is Outlook's limit of concurrent requests per app and
	// mailbox, which graphsync must keep to across processes.
	mailboxCap = 4
	// maxJobDuration and rescueAfter are the workers': short jobs, so that
	// River's rescuer hands a killed worker's jobs on within the run.
	maxJobDuration = 20 * time.Second
	rescueAfter    = 90 * time.Second
)

// harness is one run's world.
type harness struct {
	o     Options
	dir   string
	bin   string
	pg    *pglocal.Cluster
	dbURL string
	em    *emulator.Server
	st    *store.Store
	// db is the harness's own handle on the database: it reads the synced
	// tables and River's jobs, and hands a killed worker's jobs back.
	db    *pgxpool.Pool
	svc   *jobs.Service
	river *river.Client[store.Tx]
	env   []string
	conns []*store.Connection
	rep   *Report
	// refreshEvery is how long after issue a token is due for refresh.
	refreshEvery time.Duration
	start        time.Time

	mu           sync.Mutex
	workers      []*worker
	started      int
	interruption []time.Time // kills and PostgreSQL restarts
	// leftToRiver are the jobs running on workers killed without the
	// harness handing them back.
	leftToRiver []int64
}

// Run runs the chaos and returns what it saw. A non-nil error means the
// run itself could not be carried out; rule violations are in the report.
func Run(ctx context.Context, o Options) (*Report, error) {
	o.defaults()
	h := &harness{o: o, rep: &Report{Options: o}}
	defer h.close()
	if err := h.prepare(ctx); err != nil {
		return nil, err
	}
	if err := h.chaos(ctx); err != nil {
		return h.rep, err
	}
	if err := h.finish(ctx); err != nil {
		return h.rep, err
	}
	return h.rep, h.check(ctx)
}

func (h *harness) logf(format string, a ...any) {
	fmt.Fprintf(h.o.Out, "%7.1fs  %s\n", time.Since(h.start).Seconds(), fmt.Sprintf(format, a...))
}

func (h *harness) prepare(ctx context.Context) (err error) {
	h.start = time.Now()
	h.dir = h.o.Dir
	if h.dir == "" {
		if h.dir, err = os.MkdirTemp("", "graphsync-chaos-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(h.dir, 0o755); err != nil {
		return err
	}
	h.rep.Dir = h.dir
	h.bin = h.o.Binary
	if h.bin == "" {
		h.bin = filepath.Join(h.dir, "graphsync")
		h.logf("building %s", h.bin)
		out, err := exec.CommandContext(ctx, "go", "build", "-o", h.bin, "github.com/graphsync/graphsync/cmd/graphsync").CombinedOutput()
		if err != nil {
			return fmt.Errorf("build graphsync: %w: %s", err, out)
		}
	}

	// A cluster of our own: it is restarted with immediate shutdown.
	h.logf("starting a throwaway PostgreSQL")
	if h.pg, err = pglocal.Start(ctx, pglocal.Options{}); err != nil {
		return err
	}
	admin, err := pgx.Connect(ctx, h.pg.URL)
	if err != nil {
		return fmt.Errorf("connect to postgres: %w", err)
	}
	_, err = admin.Exec(ctx, "CREATE DATABASE graphsync_chaos")
	admin.Close(ctx)
	if err != nil {
		return fmt.Errorf("create database: %w", err)
	}
	h.dbURL = pglocal.WithDatabase(h.pg.URL, "graphsync_chaos")
	key, err := store.GenerateKey()
	if err != nil {
		return err
	}
	keys, err := store.ParseKeyring(key)
	if err != nil {
		return err
	}
	if h.st, err = store.Open(ctx, h.dbURL, keys); err != nil {
		return err
	}
	if _, err := h.st.Migrate(ctx, nil); err != nil {
		return err
	}
	if h.db, err = pgxpool.New(ctx, h.dbURL); err != nil {
		return fmt.Errorf("open database: %w", err)
	}

	redirect, err := connect.LoopbackRedirect("/callback")
	if err != nil {
		return err
	}
	// Tokens come due for refresh this long after they are issued, so that
	// refreshes happen throughout the run.
	h.refreshEvery = min(max(h.o.Duration/8, 30*time.Second), 2*time.Minute)
	h.logf("starting the emulator: %d users × %d messages", h.o.Users, h.o.MessagesPerUser)
	h.em, err = emulator.Start(emulator.Config{Seed: h.o.Seed, Users: h.o.Users, MessagesPerUser: h.o.MessagesPerUser,
		AccessTokenLifetime: refreshAhead + h.refreshEvery,
		Apps:                []emulator.App{{ClientID: clientID, Secret: secret, RedirectURIs: []string{redirect}}},
		// Outlook's concurrency limit: a client sending a fifth request
		// to a mailbox is refused with a Retry-After.
		Throttle: emulator.Throttle{Outlook: emulator.OutlookLimits{Concurrent: mailboxCap}}})
	if err != nil {
		return err
	}
	auth := identity.Config{LoginURL: h.em.URL(), Tenant: "common", ClientID: clientID, ClientSecret: secret, RedirectURL: redirect}
	// This process only connects users and enqueues; the workers are
	// separate processes.
	w, err := gsworker.New(gsworker.Config{Store: h.st, Graph: graph.Config{BaseURL: h.em.URL()}, App: auth,
		Jobs: jobs.Config{DisableScheduler: true}})
	if err != nil {
		return err
	}
	for _, u := range h.em.Users() {
		conn, err := connectUser(ctx, h.st, w.Graph, auth, u.UserPrincipalName)
		if err != nil {
			return fmt.Errorf("connect %s: %w", u.UserPrincipalName, err)
		}
		h.conns = append(h.conns, conn)
	}
	h.logf("connected %d users through the OAuth flow; resources %s", len(h.conns), strings.Join(graphsync.Names(resources), ", "))
	h.svc = w.Jobs
	if h.river, err = h.svc.NewClient(false); err != nil {
		return err
	}
	h.env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"DATABASE_URL=" + h.dbURL,
		"GRAPHSYNC_ENCRYPTION_KEY=" + key,
		"GRAPHSYNC_CLIENT_ID=" + clientID,
		"GRAPHSYNC_CLIENT_SECRET=" + secret,
		"GRAPHSYNC_REDIRECT_URL=" + redirect,
		"GRAPHSYNC_GRAPH_URL=" + h.em.URL(),
		"GRAPHSYNC_LOGIN_URL=" + h.em.URL(),
		"GRAPHSYNC_HTTP_ADDR=127.0.0.1:0",
		"GRAPHSYNC_RIVER_UI=false",
		"GRAPHSYNC_LOG_FORMAT=json",
		"GRAPHSYNC_LOG_LEVEL=info",
		"GRAPHSYNC_SYNC_INTERVAL=20s",
		"GRAPHSYNC_MAX_JOB_DURATION=" + maxJobDuration.String(),
		"GRAPHSYNC_RESCUE_AFTER=" + rescueAfter.String(),
	}
	return nil
}

func (h *harness) close() {
	h.mu.Lock()
	ws := h.workers
	h.workers = nil
	h.mu.Unlock()
	for _, w := range ws {
		w.kill()
	}
	if h.em != nil {
		h.em.StopMutations()
		_ = h.em.Close()
	}
	if h.db != nil {
		h.db.Close()
	}
	if h.st != nil {
		h.st.Close()
	}
	if h.pg != nil {
		_ = h.pg.Stop()
	}
}

// faults is the mix applied to about FaultRate of Graph responses, plus
// expired delta tokens and token endpoint errors.
func (h *harness) faults() emulator.Faults {
	r := h.o.FaultRate
	return emulator.Faults{
		Status500: r * 0.1, Status502: r * 0.1, Status503: r * 0.15, Status504: r * 0.1, RetryAfter: 0.5,
		Reset: r * 0.15, Truncated: r * 0.15, MalformedJSON: r * 0.1,
		Slow: r * 0.05, SlowBy: h.o.GraphTimeout + 2*time.Second,
		DeltaExpired: r * 0.1, TokenEndpoint: r,
	}
}

func (h *harness) startWorker() (*worker, error) {
	h.mu.Lock()
	h.started++
	n := h.started
	h.mu.Unlock()
	w, err := startWorker(h.bin, h.env, []string{"--migrate=false", "--sync-workers=10", "--graph-timeout=" + h.o.GraphTimeout.String()}, h.dir, n)
	if err != nil {
		return nil, err
	}
	if err := w.waitStarted(time.Minute); err != nil {
		w.kill()
		return nil, err
	}
	h.mu.Lock()
	h.workers = append(h.workers, w)
	h.mu.Unlock()
	return w, nil
}

// killWorker sends SIGKILL to w, hands the jobs it was running back to the
// queue (unless River's rescuer is to) and starts a replacement.
func (h *harness) killWorker(ctx context.Context, w *worker, byRiver bool) error {
	w.kill()
	h.mu.Lock()
	h.workers = slices.DeleteFunc(h.workers, func(x *worker) bool { return x == w })
	h.interruption = append(h.interruption, time.Now())
	h.mu.Unlock()
	h.rep.Kills++
	if byRiver {
		ids, err := h.runningOn(ctx, w.id())
		if err != nil {
			return err
		}
		h.mu.Lock()
		h.leftToRiver = append(h.leftToRiver, ids...)
		h.mu.Unlock()
		h.rep.KillsLeftToRiver++
		h.logf("SIGKILL worker %d (%d jobs running left to River's rescuer)", w.n, len(ids))
	} else {
		n, err := h.rescue(ctx, w.id())
		if err != nil {
			return err
		}
		h.rep.JobsRescued += n
		h.logf("SIGKILL worker %d (%d jobs running handed back)", w.n, n)
	}
	_, err := h.startWorker()
	return err
}

// runningOn lists the sync jobs a worker was running, by River's id of it.
func (h *harness) runningOn(ctx context.Context, riverID string) ([]int64, error) {
	var byWorker map[string][]int64
	err := retryDB(ctx, func() error {
		var err error
		byWorker, err = h.running(ctx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list the jobs of a killed worker: %w", err)
	}
	return byWorker[riverID], nil
}

// running lists the running sync jobs by River's id of their worker.
func (h *harness) running(ctx context.Context) (map[string][]int64, error) {
	res, err := h.river.JobList(ctx, river.NewJobListParams().Kinds(jobs.SyncArgs{}.Kind()).States(rivertype.JobStateRunning).First(1000))
	if err != nil {
		return nil, err
	}
	out := map[string][]int64{}
	for _, j := range res.Jobs {
		if n := len(j.AttemptedBy); n > 0 {
			out[j.AttemptedBy[n-1]] = append(out[j.AttemptedBy[n-1]], j.ID)
		}
	}
	return out, nil
}

// busyWorker picks a worker running a sync job, so that River has one to
// rescue: it queues syncs and watches for up to 30 s, then settles for any.
func (h *harness) busyWorker(ctx context.Context, rng *mathrand.Rand) *worker {
	_ = h.enqueue(ctx)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		byWorker, err := h.running(ctx)
		if err != nil {
			continue
		}
		h.mu.Lock()
		for _, w := range h.workers {
			if len(byWorker[w.id()]) > 0 {
				h.mu.Unlock()
				return w
			}
		}
		h.mu.Unlock()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.workers[rng.IntN(len(h.workers))]
}

// rescue does what River's rescuer does for jobs of a dead worker once
// RescueAfter has passed (GRAPHSYNC_RESCUE_AFTER), without the wait: the
// harness knows the process is gone. It plays the rescuer on purpose, with
// an UPDATE of river_job on its own pool, since River's API offers no way
// to hand back a running job of another process.
func (h *harness) rescue(ctx context.Context, riverID string) (int64, error) {
	if riverID == "" {
		return 0, nil
	}
	var n int64
	err := retryDB(ctx, func() error {
		tag, err := h.db.Exec(ctx, `UPDATE river_job SET state = 'available', scheduled_at = now()
			WHERE state = 'running' AND attempted_by[array_upper(attempted_by, 1)] = $1`, riverID)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("hand back the jobs of a killed worker: %w", err)
	}
	return n, nil
}

// retryDB retries fn while PostgreSQL restarts.
func retryDB(ctx context.Context, fn func() error) error {
	var err error
	for range 60 {
		if err = fn(); err == nil || ctx.Err() != nil {
			return err
		}
		time.Sleep(500 * time.Millisecond)
	}
	return err
}

// chaos runs the chaos phase: one worker, then Workers at once, with
// kills spread over the whole phase and PostgreSQL restarted mid-sync.
func (h *harness) chaos(ctx context.Context) error {
	d := h.o.Duration
	rng := mathrand.New(mathrand.NewPCG(uint64(h.o.Seed), 0xc4a05))
	var events []event
	for i := range h.o.Kills {
		at := time.Duration((float64(i) + 0.5 + 0.8*(rng.Float64()-0.5)) / float64(h.o.Kills) * 0.95 * float64(d))
		kind := "kill"
		if i >= h.o.Kills-h.o.RiverRescues {
			// The last kills: River's own rescuer hands their jobs on.
			kind = "kill-river"
		}
		events = append(events, event{at: at, kind: kind})
	}
	for i := range h.o.PostgresRestarts {
		events = append(events, event{at: time.Duration(float64(d) * (0.3 + 0.4*float64(i)/float64(h.o.PostgresRestarts))), kind: "postgres"})
	}
	multiFrom, multiTo := time.Duration(0.55*float64(d)), time.Duration(0.9*float64(d))
	events = append(events, event{at: multiFrom, kind: "scale-out"}, event{at: multiTo, kind: "scale-in"})
	sort.Slice(events, func(i, j int) bool { return events[i].at < events[j].at })

	h.em.StartMutations(h.o.MutationRate)
	h.em.SetFaults(h.faults())
	h.logf("chaos for %s: %d kills (the last %d left to River's rescuer), %d PostgreSQL restarts, %d workers from %s to %s, faults on %.0f%% of Graph responses, %.0f mutations/s",
		d, h.o.Kills, h.o.RiverRescues, h.o.PostgresRestarts, h.o.Workers, multiFrom.Round(time.Second), multiTo.Round(time.Second), 100*h.o.FaultRate, h.o.MutationRate)
	if _, err := h.startWorker(); err != nil {
		return err
	}
	begin := time.Now()
	h.rep.chaosStart = begin
	if err := h.enqueue(ctx); err != nil {
		return err
	}
	next := 0
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastEnqueue := time.Now()
	for time.Since(begin) < d {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		// A worker dying on its own is a finding: name it and carry on.
		h.mu.Lock()
		var dead []*worker
		for _, w := range h.workers {
			if w.exited() {
				dead = append(dead, w)
			}
		}
		h.mu.Unlock()
		for _, w := range dead {
			h.rep.violate("worker %d exited on its own: %v (log %s)", w.n, w.err, filepath.Join(h.dir, fmt.Sprintf("worker-%02d.log", w.n)))
			if err := h.killWorker(ctx, w, false); err != nil {
				return err
			}
			h.rep.Kills-- // not one of ours
		}
		if time.Since(lastEnqueue) > 5*time.Second {
			// Errors while PostgreSQL restarts are expected; the next tick retries.
			if err := h.enqueue(ctx); err == nil {
				lastEnqueue = time.Now()
			}
		}
		for next < len(events) && time.Since(begin) >= events[next].at {
			if err := h.apply(ctx, events[next], rng); err != nil {
				return err
			}
			next++
		}
	}
	for ; next < len(events); next++ {
		if err := h.apply(ctx, events[next], rng); err != nil {
			return err
		}
	}
	h.rep.chaosEnd = time.Now()
	return nil
}

type event struct {
	at   time.Duration
	kind string
}

func (h *harness) apply(ctx context.Context, e event, rng *mathrand.Rand) error {
	switch e.kind {
	case "kill":
		h.mu.Lock()
		w := h.workers[rng.IntN(len(h.workers))]
		h.mu.Unlock()
		return h.killWorker(ctx, w, false)
	case "kill-river":
		return h.killWorker(ctx, h.busyWorker(ctx, rng), true)
	case "postgres":
		h.logf("restarting PostgreSQL with immediate shutdown")
		h.mu.Lock()
		h.interruption = append(h.interruption, time.Now())
		h.mu.Unlock()
		if err := h.pg.Restart(ctx); err != nil {
			return err
		}
		h.rep.PostgresRestarts++
		h.logf("PostgreSQL back")
	case "scale-out":
		for range h.o.Workers - 1 {
			if _, err := h.startWorker(); err != nil {
				return err
			}
		}
		h.logf("%d workers running", h.o.Workers)
	case "scale-in":
		h.mu.Lock()
		extra := slices.Clone(h.workers[1:])
		h.mu.Unlock()
		for _, w := range extra {
			w.stop(45 * time.Second)
			h.mu.Lock()
			h.workers = slices.DeleteFunc(h.workers, func(x *worker) bool { return x == w })
			h.mu.Unlock()
		}
		h.logf("back to one worker")
	}
	return nil
}

func (h *harness) enqueue(ctx context.Context) error {
	_, err := h.svc.EnqueueSync(ctx, h.river, 0, nil)
	return err
}

// finish stops the chaos and runs one clean sync that starts after the
// last change in the tenant.
func (h *harness) finish(ctx context.Context) error {
	h.em.StopMutations()
	h.em.SetFaults(emulator.Faults{})
	h.logf("chaos over: mutations stopped, faults off; draining the queue")
	ctx, cancel := context.WithTimeout(ctx, h.o.FinalTimeout)
	defer cancel()
	// Jobs waiting out River's retry backoff are retried now, as an
	// operator would from River UI.
	if err := h.retryWaiting(ctx); err != nil {
		return err
	}
	if err := h.drain(ctx); err != nil {
		return err
	}
	t0 := time.Now()
	h.logf("clean sync of every connection and resource")
	if err := h.enqueue(ctx); err != nil {
		return err
	}
	if err := h.drain(ctx); err != nil {
		return err
	}
	h.rep.CleanSync = time.Since(t0)
	h.logf("clean sync done in %s", h.rep.CleanSync.Round(time.Millisecond))
	h.mu.Lock()
	ws := h.workers
	h.workers = nil
	h.mu.Unlock()
	for _, w := range ws {
		w.stop(30 * time.Second)
		h.rep.WorkerErrors += w.errors
	}
	return nil
}

func (h *harness) retryWaiting(ctx context.Context) error {
	var ids []int64
	params := river.NewJobListParams().Kinds(jobs.SyncArgs{}.Kind()).
		States(rivertype.JobStateRetryable, rivertype.JobStateScheduled).First(1000)
	for {
		res, err := h.river.JobList(ctx, params)
		if err != nil {
			return err
		}
		for _, j := range res.Jobs {
			ids = append(ids, j.ID)
		}
		if len(res.Jobs) == 0 || res.LastCursor == nil {
			break
		}
		params = params.After(res.LastCursor)
	}
	h.rep.JobsRetryable = len(ids)
	for _, id := range ids {
		if _, err := h.river.JobRetry(ctx, id); err != nil {
			return fmt.Errorf("retry job %d: %w", id, err)
		}
	}
	return nil
}

// drain waits until no sync job is pending or running.
func (h *harness) drain(ctx context.Context) error {
	for {
		var active int
		err := h.db.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'graphsync_sync'
			AND state IN ('available', 'running', 'retryable', 'scheduled', 'pending')`).Scan(&active)
		if err != nil {
			return err
		}
		if active == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the queue did not drain: %d sync jobs still active: %w", active, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// resources are what the harness's delegated connections sync: every
// resource read per mailbox (a tenant's SharePoint sites need an
// application connection).
var resources = graphsync.Resources

func connectUser(ctx context.Context, st *store.Store, gc *graph.Client, auth identity.Config, upn string) (*store.Connection, error) {
	return connect.Headless(ctx, connect.Config{Store: st, Graph: gc, Auth: auth, Resources: resources, LoginHint: upn})
}
