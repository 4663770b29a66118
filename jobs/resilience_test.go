package jobs_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graph"
	"github.com/graphsync/graphsync/internal/worker"
	"github.com/graphsync/graphsync/jobs"
	"github.com/graphsync/graphsync/store"
)

// process is a second worker process on the bundle's database: its own
// Graph client, service and River client.
type process struct {
	svc    *jobs.Service
	client *river.Client[store.Tx]
}

// newProcess starts another worker process against the bundle's emulator
// and database, as a fresh `graphsync worker` would.
func (b *bundle) newProcess(t *testing.T, pageSize int) *process {
	t.Helper()
	return b.newProcessWith(t, func(c *worker.Config) { c.Graph.MaxPageSize = pageSize })
}

// newProcessWith starts another worker process whose configuration
// configure tunes.
func (b *bundle) newProcessWith(t *testing.T, configure func(*worker.Config)) *process {
	t.Helper()
	cfg := worker.Config{Store: b.store, Logger: testLogger(), App: b.auth,
		Graph: graph.Config{BaseURL: b.em.URL()},
		Jobs:  jobs.Config{DisableScheduler: true, PollInterval: 100 * time.Millisecond, SyncWorkers: 8}}
	configure(&cfg)
	w, err := worker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	svc := w.Jobs
	client, err := svc.NewClient(true)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Start(context.Background()); err != nil {
		t.Fatalf("start river: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = client.Stop(ctx)
	})
	return &process{svc: svc, client: client}
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// enqueue inserts every connection's syncs without waiting for them.
func (b *bundle) enqueue(t *testing.T) {
	t.Helper()
	if _, err := b.svc.EnqueueSync(context.Background(), b.client, 0, nil); err != nil {
		t.Fatal(err)
	}
}

// expireAccessTokens makes every stored access token look expired, so the
// next use refreshes it.
func (b *bundle) expireAccessTokens(t *testing.T) {
	t.Helper()
	if _, err := b.store.Pool().Exec(context.Background(),
		`UPDATE connections SET access_token_expires_at = now() - interval '1 minute'`); err != nil {
		t.Fatal(err)
	}
}

// statusCount sums the emulator's Graph responses with a status over
// routes containing substr.
func statusCount(c emulator.Counters, substr string, status int) int64 {
	var n int64
	for route, byStatus := range c.Requests {
		if strings.Contains(route, substr) {
			n += byStatus[status]
		}
	}
	return n
}

// refreshOutcomes reads graphsync_token_refreshes_total{outcome}.
func refreshOutcomes(t *testing.T, outcome string) float64 {
	t.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "graphsync_token_refreshes_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// issuedRefreshTokens counts the refresh tokens the emulator ever issued.
func issuedRefreshTokens(em *emulator.Server) int {
	n := 0
	for _, s := range em.IssuedSecrets() {
		if strings.HasPrefix(s, "1.AXEA-rt.") {
			n++
		}
	}
	return n
}

func TestExpiredDeltaTokensResync(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{Users: 2, MessagesPerUser: 200}})
	b.syncNow(t, time.Minute)
	b.assertMailMatchesTruth(t)

	// Outlook evicts the sync state; changes made meanwhile, deletions
	// included, are never reported as @removed: only the full pass that
	// follows can retire them.
	b.em.ExpireDeltaTokens()
	b.em.Mutate(120)
	b.syncNow(t, time.Minute)
	b.assertMailMatchesTruth(t)

	if n := b.count(t, `SELECT coalesce(sum(resyncs), 0) FROM sync_state`); n == 0 {
		t.Fatal("no stream recorded a resync after the delta tokens expired")
	}
	if n := b.count(t, `SELECT count(*) FROM mail_messages WHERE deleted_at IS NOT NULL`); n == 0 {
		t.Fatal("no message was retired; the mutations deleted nothing, so the test proves nothing")
	}
	if n := b.count(t, `SELECT count(*) FROM sync_state WHERE next_link IS NOT NULL OR full_round`); n != 0 {
		t.Fatalf("%d streams left a round open", n)
	}
}

func TestDeltaTokensExpireMidRound(t *testing.T) {
	t.Parallel()
	b := setup(t, options{
		emu:    emulator.Config{Users: 1, MessagesPerUser: 400, Latency: emulator.Latency{Min: 10 * time.Millisecond, Max: 20 * time.Millisecond}},
		worker: func(c *worker.Config) { c.Graph.MaxPageSize = 10 },
	})
	b.enqueue(t)
	waitFor(t, 20*time.Second, "the first message pages to commit", func() bool {
		return b.count(t, `SELECT coalesce(sum(pages), 0) FROM sync_state WHERE stream NOT IN ('', 'folders')`) >= 4
	})
	// The skip tokens of the round in progress stop working.
	b.em.ExpireDeltaTokens()
	b.waitIdle(t, time.Minute)
	b.assertMailMatchesTruth(t)

	if n := b.count(t, `SELECT coalesce(sum(resyncs), 0) FROM sync_state`); n == 0 {
		t.Fatal("no stream resynced: the round finished before the tokens expired, so the test proves nothing")
	}

	// The stream keeps working incrementally afterwards.
	b.em.Mutate(60)
	b.syncNow(t, time.Minute)
	b.assertMailMatchesTruth(t)
}

func TestAccessTokenExpiresMidSync(t *testing.T) {
	t.Parallel()
	b := setup(t, options{
		emu: emulator.Config{Users: 1, MessagesPerUser: 300, AccessTokenLifetime: 2 * time.Second,
			Latency: emulator.Latency{Min: 100 * time.Millisecond, Max: 200 * time.Millisecond}},
		// Use each token until Graph refuses it.
		worker: func(c *worker.Config) { c.Jobs.RefreshAhead, c.Graph.MaxPageSize = time.Millisecond, 5 },
	})
	b.syncNow(t, time.Minute)
	b.assertMailMatchesTruth(t)

	if n := statusCount(b.em.Counters(), "", 401); n == 0 {
		t.Fatal("Graph never answered 401: the token outlived the sync, so the test proves nothing")
	}
	if n := b.count(t, `SELECT count(*) FROM connections WHERE status <> 'active'`); n != 0 {
		t.Fatalf("%d connections left active status", n)
	}
	if n := b.count(t, `SELECT count(*) FROM sync_state WHERE status <> 'ok'`); n != 0 {
		t.Fatalf("%d streams recorded an error", n)
	}
}

func TestRefreshFailureMarksOnlyThatConnection(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		break_ func(em *emulator.Server, userID string)
		code   string
	}{
		{"revoked grant", func(em *emulator.Server, u string) { em.RevokeGrant(u) }, "AADSTS50173"},
		{"consent removed", func(em *emulator.Server, u string) { em.RemoveConsent(u) }, "AADSTS65001"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, options{emu: emulator.Config{Users: 3, MessagesPerUser: 100}})
			b.syncNow(t, time.Minute)
			b.assertMailMatchesTruth(t)

			broken := b.conns[0]
			tc.break_(b.em, broken.UserID)
			b.expireAccessTokens(t)
			b.syncNow(t, time.Minute)

			var status, code, reason string
			if err := b.store.Pool().QueryRow(context.Background(),
				`SELECT status, coalesce(last_error_code, ''), coalesce(last_error, '') FROM connections WHERE id = $1`,
				broken.ID).Scan(&status, &code, &reason); err != nil {
				t.Fatal(err)
			}
			if status != store.StatusNeedsReauth || code != tc.code {
				t.Fatalf("broken connection: status %q code %q, want %q %q", status, code, store.StatusNeedsReauth, tc.code)
			}
			if reason == "" || strings.Contains(reason, "AADSTS") || strings.Contains(reason, "Trace ID") {
				t.Fatalf("reason %q is not a plain-language explanation", reason)
			}
			if n := b.count(t, `SELECT count(*) FROM connections WHERE id <> $1 AND status = 'active'`, broken.ID); n != len(b.conns)-1 {
				t.Fatalf("%d other connections active, want %d", n, len(b.conns)-1)
			}

			// The others keep syncing.
			b.em.Mutate(120)
			b.syncNow(t, time.Minute)
			b.conns = b.conns[1:]
			b.assertMailMatchesTruth(t)
		})
	}
}

func TestExpiredClientSecretIsNotTheConnections(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{Users: 2, MessagesPerUser: 100}})
	b.syncNow(t, time.Minute)

	before := refreshOutcomes(t, "invalid_client")
	if err := b.em.ExpireClientSecret(testClientID); err != nil {
		t.Fatal(err)
	}
	b.expireAccessTokens(t)
	b.enqueue(t)
	// Every sync job backs off (snoozed) instead of failing the connection.
	waitFor(t, 20*time.Second, "sync jobs to back off", func() bool {
		return b.count(t, `SELECT count(*) FROM river_job WHERE kind = 'graphsync_sync'
			AND state IN ('available', 'running', 'retryable', 'pending')`) == 0 &&
			b.count(t, `SELECT count(*) FROM river_job WHERE kind = 'graphsync_sync' AND state = 'scheduled'`) == len(b.conns)
	})
	if got := refreshOutcomes(t, "invalid_client") - before; got < 1 {
		t.Fatalf("refresh outcome invalid_client counted %v times, want at least 1", got)
	}
	if n := b.count(t, `SELECT count(*) FROM connections WHERE status <> 'active'`); n != 0 {
		t.Fatalf("%d connections marked for the operator's expired secret", n)
	}
}

func TestThrottledSyncHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		requests int
		window   time.Duration
		pageSize int
		inline   time.Duration // the client's MaxInlineWait; 0 for its default
		snoozed  bool          // Retry-After exceeds inline: the job snoozes
	}{
		{name: "waited in place", requests: 8, window: 2 * time.Second, pageSize: 10},
		{name: "job snoozed", requests: 20, window: 3 * time.Second, pageSize: 10, inline: 500 * time.Millisecond, snoozed: true},
		// Fewer requests per window than the mailbox has folders: a
		// resumed job must not spend them on folders it already synced.
		{name: "job snoozed, window smaller than folder count", requests: 10, window: 3 * time.Second, pageSize: 20,
			inline: 500 * time.Millisecond, snoozed: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, options{
				emu: emulator.Config{Users: 2, MessagesPerUser: 300,
					Throttle: emulator.Throttle{Outlook: emulator.OutlookLimits{Requests: tc.requests, Window: tc.window, Concurrent: 4}}},
				worker: func(c *worker.Config) {
					c.Graph.MaxPageSize = tc.pageSize
					c.Graph.MaxInlineWait = tc.inline
				},
			})
			b.syncNow(t, time.Minute)
			b.assertMailMatchesTruth(t)

			c := b.em.Counters()
			if c.Throttled == 0 {
				t.Fatal("the emulator throttled nothing, so the test proves nothing")
			}
			// The emulator counts as early any request it admits inside a
			// window, including those already sent (up to Concurrent-1 per
			// 429) before the client could read the 429; nothing sent after
			// it may arrive early.
			if c.EarlyRetries > 3*c.Throttled {
				t.Fatalf("%d requests came back before Retry-After elapsed (%d throttled): %v", c.EarlyRetries, c.Throttled, c.EarlyRetriesByKey)
			}
			for _, conn := range b.conns {
				if p := c.PeakConcurrency[conn.UserID]; p > 4 {
					t.Fatalf("mailbox %s saw %d concurrent requests, Outlook allows 4", conn.UserID, p)
				}
			}
			windows := b.count(t, `SELECT count(*) FROM throttle_windows WHERE scope LIKE 'mailbox:%'`)
			if tc.snoozed && windows == 0 {
				t.Fatal("no Retry-After window was persisted for the snoozed job")
			}
		})
	}
}

func TestKilledWorkerResumesFromCheckpoint(t *testing.T) {
	t.Parallel()
	b := setup(t, options{
		emu:    emulator.Config{Users: 1, MessagesPerUser: 400, Latency: emulator.Latency{Min: 20 * time.Millisecond, Max: 50 * time.Millisecond}},
		worker: func(c *worker.Config) { c.Graph.MaxPageSize = 10 },
	})
	b.enqueue(t)
	waitFor(t, 20*time.Second, "the first message pages to commit", func() bool {
		return b.count(t, `SELECT coalesce(sum(pages), 0) FROM sync_state WHERE stream NOT IN ('', 'folders')`) >= 5
	})
	// The worker dies: its job's context is cancelled mid-request.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.client.StopAndCancel(ctx); err != nil {
		t.Fatalf("stop worker: %v", err)
	}
	committed := b.count(t, `SELECT coalesce(sum(pages), 0) FROM sync_state`)
	if n := b.count(t, `SELECT count(*) FROM sync_state WHERE next_link IS NOT NULL`); n == 0 {
		t.Fatal("no round was left in progress by the kill, so the test proves nothing")
	}

	// A new process takes over on the same database.
	p := b.newProcess(t, 10)
	if _, err := p.svc.EnqueueSync(context.Background(), p.client, 0, nil); err != nil {
		t.Fatal(err)
	}
	b.waitIdle(t, time.Minute)
	b.assertMailMatchesTruth(t)

	pages := b.count(t, `SELECT coalesce(sum(pages), 0) FROM sync_state`)
	fetched := statusCount(b.em.Counters(), "delta", 200)
	// At most two pages per stream at the kill (the folder stream and four
	// folders: the page being written and the one fetched ahead of it) are
	// fetched twice.
	if fetched > int64(pages)+10 {
		t.Fatalf("emulator served %d delta pages for %d committed pages (%d before the kill): committed pages were fetched again",
			fetched, pages, committed)
	}
	var live int
	for _, c := range b.conns {
		live += len(b.truth(t, c.UserID, "messages"))
	}
	if n := b.count(t, `SELECT count(*) FROM mail_messages WHERE deleted_at IS NULL`); n != live {
		t.Fatalf("%d live message rows, ground truth has %d", n, live)
	}
}

func TestConcurrentRefreshAcrossProcesses(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{Users: 1, MessagesPerUser: 100}})
	procs := []*process{{svc: b.svc, client: b.client}, b.newProcess(t, 50), b.newProcess(t, 50)}
	conn := b.conns[0]
	b.expireAccessTokens(t)
	before := issuedRefreshTokens(b.em)

	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(procs))
	for _, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := p.client.Insert(ctx, jobs.RefreshArgs{ConnectionID: conn.ID}, nil); err != nil {
				errs <- err
			}
			if _, err := p.svc.EnqueueSync(ctx, p.client, conn.ID, nil); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	b.waitIdle(t, time.Minute)
	waitFor(t, 20*time.Second, "the refresh job to finish", func() bool {
		return b.count(t, `SELECT count(*) FROM river_job WHERE kind = 'graphsync_refresh_token'
			AND state IN ('available', 'running', 'retryable', 'pending')`) == 0
	})

	if n := issuedRefreshTokens(b.em) - before; n != 1 {
		t.Fatalf("the refresh token was redeemed %d times, want exactly once", n)
	}
	if n := b.count(t, `SELECT count(*) FROM connections WHERE status = 'active' AND access_token_expires_at > now() + interval '10 minutes'`); n != 1 {
		t.Fatal("the connection did not end active with a fresh access token")
	}
	b.assertMailMatchesTruth(t)
}
