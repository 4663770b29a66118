package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graphsync"
)

// throttle syncs several mailboxes with three worker processes against
// Outlook's limits scaled down (requests per window per mailbox, 4
// concurrent) with Graph-like latency, with graphsync configured for
// Microsoft's documented limits, which are higher: the ceiling is unknown
// to it. The same run is measured twice side by side, with fixed gates
// (the configured rate, whatever Graph answers) and with adaptive ones,
// for how close to the ceiling graphsync runs without being throttled or
// retrying early.
func throttle(ctx context.Context, o *Options, rep *Report) error {
	for _, fixed := range []bool{true, false} {
		if err := throttleRun(ctx, o, rep, fixed); err != nil {
			return err
		}
	}
	return nil
}

func throttleRun(ctx context.Context, o *Options, rep *Report, fixed bool) error {
	name, gates := "throttle", "adaptive gates"
	if fixed {
		gates = "fixed gates"
	}
	const processes = 3
	mailboxes := o.size(6, 3)
	const requests, window = 100, 10 * time.Second
	per := o.size(10_000, 3_000)
	measure := time.Duration(o.size(60, 20)) * time.Second
	limits := emulator.OutlookLimits{Requests: requests, Window: window, Concurrent: 4}
	e, err := o.newEnv(ctx, name, tinyOthers(emulator.Config{Users: mailboxes, MessagesPerUser: per,
		Latency:  emulator.Latency{Min: 100 * time.Millisecond, Max: 300 * time.Millisecond},
		Throttle: emulator.Throttle{Outlook: limits}}))
	if err != nil {
		return err
	}
	defer e.close()
	if err := e.connect(ctx, []*graphsync.Resource{graphsync.Mail}); err != nil {
		return err
	}
	// Microsoft's documented Outlook limit (10,000 requests per 10 minutes,
	// 16.7 per second) is the default: above the emulator's 10 per second.
	// Small pages make many requests.
	for i := range processes {
		w, err := e.startWorker(ctx, fmt.Sprintf("%s-%d", name, i), func(c *WorkerConfig) {
			c.PageSize = "10"
			c.SyncWorkers = 2
			c.FixedGates = fixed
		})
		if err != nil {
			return err
		}
		defer w.stop()
	}
	if _, err := e.svc.EnqueueSync(ctx, e.river, 0, nil); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(2 * time.Second):
	}
	c0 := e.em.Counters()
	t0 := time.Now()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(measure):
	}
	c1 := e.em.Counters()
	elapsed := time.Since(t0)
	var ok, throttled, total int64
	for route, byStatus := range c1.Requests {
		for status, n := range byStatus {
			n -= c0.Requests[route][status]
			total += n
			switch status {
			case 200:
				ok += n
			case 429, 503:
				throttled += n
			}
		}
	}
	if total == 0 {
		return fmt.Errorf("no Graph request in the measured %s", measure)
	}
	early := c1.EarlySent - c0.EarlySent
	inFlight := c1.EarlyRetries - c0.EarlyRetries - early
	ceiling := float64(requests) / window.Seconds() * float64(mailboxes) * elapsed.Seconds()
	frac := float64(ok) / ceiling
	share := float64(throttled) / float64(total)
	rep.add(name, fmt.Sprintf("%s: %d processes, %d mailboxes, %d requests per %s and 4 concurrent each (graphsync configured for 16.7/s), 100–300 ms latency, %s measured",
		gates, processes, mailboxes, requests, window, measure), count(int(total))+" requests", "", nil)
	rep.add(name, gates+": successful request rate / allowed ceiling", pct(frac), "≥ 90%", ptr(frac >= 0.9))
	rep.add(name, gates+": share of requests answered 429/503", fmt.Sprintf("%.2f%%", share*100), "< 1%", ptr(share < 0.01))
	rep.add(name, gates+": requests sent after a 429 was readable and before its Retry-After elapsed", count(int(early)), "0", ptr(early == 0))
	rep.add(name, gates+": requests already in flight when a 429 was written (not early)", count(int(max(inFlight, 0))), "", nil)
	var quarantined int
	if err := e.pool.QueryRow(ctx, "SELECT count(*) FROM quarantine").Scan(&quarantined); err != nil {
		return err
	}
	rep.add(name, gates+": records lost (quarantined)", count(quarantined), "0", ptr(quarantined == 0))
	return nil
}
