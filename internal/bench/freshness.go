package bench

import (
	"context"
	"fmt"
	"github.com/graphsync/graphsync/internal/loopback"
	"slices"
	"strings"
	"time"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/jobs"
)

// freshnessResources are the resources the freshness scenario syncs: those
// Graph notifies about in a delegated connection, chats aside (Teams'
// per-tenant limits would measure Microsoft's budget, not graphsync).
var freshnessResources = []*graphsync.Resource{graphsync.Mail, graphsync.Calendar, graphsync.Contacts, graphsync.Drive}

// freshness measures, side by side, how soon a change in Microsoft 365
// reaches its row with change notifications and with polling at the
// default interval, and what an idle fleet costs Graph either way.
func freshness(ctx context.Context, o *Options, rep *Report) error {
	const name = "freshness"
	conns := o.size(1_000, 100)
	changes := o.size(600, 100)
	perSecond := float64(o.size(10, 5))
	// Polling as `graphsync worker` does by default: every 5 minutes, the
	// scheduler running every minute. A quick run polls every 30 s.
	pollEvery, scheduleEvery := 5*time.Minute, time.Minute
	if o.Quick {
		pollEvery, scheduleEvery = 30*time.Second, 10*time.Second
	}
	ecfg := emulator.Config{Users: conns, Tenants: max(1, conns/fleetTenantSize), MessagesPerUser: 10, EventsPerUser: 3,
		DriveItemsPerUser: 4, ContactsPerUser: 3, PeoplePerUser: 1, ChatsPerUser: 1, ChatMessagesPerChat: 1}

	notified, err := freshnessRun(ctx, o, name+"_n", ecfg, changes, perSecond, func(c *WorkerConfig) {
		c.NotifyAddr = freeAddr()
	}, 2*time.Minute)
	if err != nil {
		return fmt.Errorf("with notifications: %w", err)
	}
	polled, err := freshnessRun(ctx, o, name+"_p", ecfg, changes, perSecond, func(c *WorkerConfig) {
		c.SyncInterval, c.ScheduleEvery = pollEvery, scheduleEvery
	}, pollEvery+3*scheduleEvery)
	if err != nil {
		return fmt.Errorf("with polling: %w", err)
	}

	rep.add(name, fmt.Sprintf("connections × resources (%s)", strings.Join(graphsync.Names(freshnessResources), ", ")),
		fmt.Sprintf("%s × %d", count(conns), len(freshnessResources)), "1,000 × 4", ptr(conns >= 1_000))
	rep.add(name, "changes applied, spread over the connections", fmt.Sprintf("%s at %.0f/s", count(changes), perSecond), "", nil)
	rep.add(name, "changes measured (messages and drive items, whose ids the changes name)",
		fmt.Sprintf("%s / %s", count(notified.measured), count(polled.measured)), "", nil)
	p99 := notified.latency.p99
	rep.add(name, "change to committed row p50 / p99, change notifications",
		fmt.Sprintf("%s / %s", notified.latency.p50, p99), "p99 < 5s", ptr(notified.measured > 0 && notified.missed == 0 && p99 < 5*time.Second))
	rep.add(name, fmt.Sprintf("change to committed row p50 / p99, polling every %s (scheduler every %s)", pollEvery, scheduleEvery),
		fmt.Sprintf("%s / %s", polled.latency.p50, polled.latency.p99), "", nil)
	if notified.missed+polled.missed > 0 {
		rep.add(name, "changes never reflected (notifications / polling)", fmt.Sprintf("%d / %d", notified.missed, polled.missed), "0", ptr(false))
	}
	rep.add(name, "subscriptions created (validation handshakes passed)",
		fmt.Sprintf("%s (%s)", count(notified.subscriptions), count(int(notified.validations))), "", nil)

	// An idle fleet's Graph requests per hour. With notifications: what the
	// idle window cost, one safety-net pass every 6 hours, and each
	// subscription renewed at half its lifetime. With polling: one pass
	// every 5 minutes. Both passes were measured on the notified fleet.
	pass := float64(notified.passRequests)
	perRenewal := float64(notified.renewRequests) / float64(max(1, notified.subscriptions))
	var renewals float64
	for _, r := range freshnessResources {
		half := r.Notifications().MaxLifetime / 2
		renewals += float64(conns) * perRenewal * float64(time.Hour) / float64(half)
	}
	idle := float64(notified.idleRequests)*float64(time.Hour)/float64(notified.idleWindow) +
		pass*float64(time.Hour)/float64(6*time.Hour) + renewals
	polling := pass * float64(time.Hour) / float64(5*time.Minute)
	rep.add(name, fmt.Sprintf("idle fleet: Graph requests per hour, notifications (measured over %s, plus a 6-hourly safety-net pass and renewals)",
		notified.idleWindow.Round(time.Second)), count(int(idle+0.5)), "", nil)
	rep.add(name, "idle fleet: Graph requests per hour, polling every 5 minutes", count(int(polling+0.5)), "", nil)
	ratio := polling / max(idle, 1)
	rep.add(name, "idle fleet: polling requests ÷ notification requests", fmt.Sprintf("%.0f×", ratio), "≥ 20×", ptr(ratio >= 20))
	sameWorst := pass * float64(time.Hour) / float64(max(p99, time.Second))
	rep.add(name, fmt.Sprintf("idle fleet: Graph requests per hour, polling every %s (the notified p99)", max(p99, time.Second).Round(time.Second)),
		count(int(sameWorst+0.5)), "", nil)
	return nil
}

// freshnessResult is one side of the freshness scenario.
type freshnessResult struct {
	latency          quantiles
	measured, missed int
	// Set with notifications only.
	subscriptions               int
	validations                 int64
	idleRequests                int64
	idleWindow                  time.Duration
	passRequests, renewRequests int64
}

// freshnessRun connects a fleet, syncs it once, lets the worker settle
// (subscribing, with notifications), measures it idle, then applies changes
// at perSecond and waits up to drain after the last for every one to reach
// its row.
func freshnessRun(ctx context.Context, o *Options, name string, ecfg emulator.Config, changes int, perSecond float64,
	tune func(*WorkerConfig), drain time.Duration) (*freshnessResult, error) {
	e, err := o.newEnv(ctx, name, ecfg)
	if err != nil {
		return nil, err
	}
	defer e.close()
	if err := e.connect(ctx, freshnessResources); err != nil {
		return nil, err
	}
	w, err := e.startWorker(ctx, name, func(c *WorkerConfig) {
		c.SyncWorkers, c.Schedule = fleetSyncWorkers, true
		tune(c)
	})
	if err != nil {
		return nil, err
	}
	defer w.stop()
	res := &freshnessResult{}
	notify := w.cfg.NotifyAddr != ""
	if _, took, err := e.pass(ctx, 30*time.Minute); err != nil {
		return nil, fmt.Errorf("initial pass: %w", err)
	} else {
		o.logf("%s: initial pass in %s", name, took.Round(time.Millisecond))
	}
	if notify {
		want := len(e.conns) * len(freshnessResources)
		t0 := time.Now()
		if err := e.waitFor(ctx, "subscriptions", 10*time.Minute, func() (bool, error) {
			var active int
			err := e.pool.QueryRow(ctx, "SELECT count(*) FROM subscriptions WHERE status = 'active'").Scan(&active)
			return active == want, err
		}); err != nil {
			return nil, err
		}
		o.logf("%s: %d subscriptions active after %s", name, want, time.Since(t0).Round(time.Millisecond))
		res.subscriptions = want
		res.validations = e.em.NotificationCounters().Validations
		// The catch-up syncs of the streams subscribed anew.
		if err := e.waitIdle(ctx, time.Now().Add(10*time.Minute)); err != nil {
			return nil, err
		}

		// Idle: nothing changes; whatever Graph is asked is overhead.
		res.idleWindow = time.Duration(o.size(120, 20)) * time.Second
		e.em.ResetCounters()
		if err := sleep(ctx, res.idleWindow); err != nil {
			return nil, err
		}
		res.idleRequests = requests(e.em)
		// One safety-net pass, as the scheduler queues it.
		e.em.ResetCounters()
		if _, _, err := e.pass(ctx, 30*time.Minute, jobs.Incremental); err != nil {
			return nil, fmt.Errorf("safety-net pass: %w", err)
		}
		res.passRequests = requests(e.em)
		// One renewal of every subscription.
		e.em.ResetCounters()
		if _, err := e.pool.Exec(ctx, "UPDATE subscriptions SET renew_at = now()"); err != nil {
			return nil, err
		}
		if err := e.svc.EnqueueSubscriptions(ctx, e.river); err != nil {
			return nil, err
		}
		if err := e.waitFor(ctx, "renewals", 10*time.Minute, func() (bool, error) {
			var due int
			err := e.pool.QueryRow(ctx, "SELECT count(*) FROM subscriptions WHERE renew_at <= now() OR status <> 'active'").Scan(&due)
			return due == 0, err
		}); err != nil {
			return nil, err
		}
		res.renewRequests = requests(e.em)
		o.logf("%s: idle %d requests in %s; safety-net pass %d; renewing %d subscriptions %d", name,
			res.idleRequests, res.idleWindow, res.passRequests, res.subscriptions, res.renewRequests)
	}

	// Changes at a steady rate, spread over the connections.
	applied := make([]appliedChange, 0, changes)
	tick := time.NewTicker(time.Duration(float64(time.Second) / perSecond))
	for len(applied) < changes {
		select {
		case <-ctx.Done():
			tick.Stop()
			return nil, ctx.Err()
		case <-tick.C:
		}
		at := time.Now()
		for _, d := range e.em.Mutate(1) {
			applied = append(applied, appliedChange{at: at, what: d})
		}
	}
	tick.Stop()
	last := time.Now()

	var lat []time.Duration
	if err := e.waitFor(ctx, "every change in its row", time.Until(last.Add(drain)), func() (bool, error) {
		var err error
		lat, res.missed, err = e.rowLatencies(ctx, applied)
		return res.missed == 0, err
	}); err != nil {
		o.logf("%s: %d changes not reflected %s after the last: %v", name, res.missed, drain, err)
	}
	res.measured, res.latency = len(lat), quantilesOf(lat)
	o.logf("%s: %d changes measured, p50 %s, p99 %s, %d missed", name, res.measured, res.latency.p50, res.latency.p99, res.missed)
	return res, nil
}

// appliedChange is a mutation the harness applied: when, and the
// emulator's description, which ends with the item's id.
type appliedChange struct {
	at   time.Time
	what string
}

// rowLatencies returns, for the last change of every message and drive
// item changed, the time from the change to its row's write, and how many
// rows do not reflect their change yet. Items with no row at all (never
// synced: a change inside a folder graphsync does not sync) are skipped.
func (e *env) rowLatencies(ctx context.Context, applied []appliedChange) ([]time.Duration, int, error) {
	type key struct{ table, id string }
	lastChange := map[key]time.Time{}
	for _, c := range applied {
		f := strings.Fields(c.what)
		if len(f) < 3 {
			continue
		}
		var table string
		switch f[0] {
		case "message":
			table = graphsync.Mail.Items().Name
		case "driveItem":
			table = graphsync.Drive.Items().Name
		default:
			continue
		}
		lastChange[key{table, f[len(f)-1]}] = c.at
	}
	var out []time.Duration
	missed := 0
	for k, at := range lastChange {
		var written *time.Time
		err := e.pool.QueryRow(ctx, "SELECT max(greatest(synced_at, deleted_at)) FROM "+k.table+" WHERE id = $1", k.id).Scan(&written)
		if err != nil {
			return nil, 0, err
		}
		switch {
		case written == nil:
		case written.Before(at):
			missed++
		default:
			out = append(out, written.Sub(at))
		}
	}
	slices.Sort(out)
	return out, missed, nil
}

// quantiles summarizes latencies.
type quantiles struct{ p50, p99 time.Duration }

func quantilesOf(sorted []time.Duration) quantiles {
	if len(sorted) == 0 {
		return quantiles{}
	}
	at := func(q float64) time.Duration { return sorted[int(q*float64(len(sorted)-1))].Round(time.Millisecond) }
	return quantiles{p50: at(0.5), p99: at(0.99)}
}

// requests counts what the emulator answered since its counters were reset.
func requests(em *emulator.Server) int64 {
	var n int64
	for _, byStatus := range em.Counters().Requests {
		for _, c := range byStatus {
			n += c
		}
	}
	return n
}

// waitFor polls cond every 200 ms until it holds, fails, or timeout passes.
func (e *env) waitFor(ctx context.Context, what string, timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not done after %s", what, timeout.Round(time.Second))
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// freeAddr is a loopback address free now.
func freeAddr() string {
	addr, err := loopback.Addr()
	if err != nil {
		return "127.0.0.1:0"
	}
	return addr
}
