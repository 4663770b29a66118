package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graphsync"
)

// throttle syncs several mailboxes against Outlook's limits scaled down
// (requests per window per mailbox, 4 concurrent) with Graph-like latency,
// and measures how close to the ceiling graphsync runs without being
// throttled or retrying early.
func throttle(ctx context.Context, o *Options, rep *Report) error {
	const name = "throttle"
	mailboxes := o.size(4, 2)
	const requests, window = 100, 10 * time.Second
	per := o.size(10_000, 3_000)
	measure := time.Duration(o.size(40, 15)) * time.Second
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
	// The client is configured for the limits as an operator would for
	// Outlook's documented ones, and small pages make many requests.
	w, err := e.startWorker(ctx, name, func(c *WorkerConfig) {
		c.PageSize = "10"
		c.MailboxRate = float64(requests) / window.Seconds()
		c.MailboxBurst = 1
	})
	if err != nil {
		return err
	}
	defer w.stop()
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
	rep.add(name, fmt.Sprintf("%d mailboxes, %d requests per %s and 4 concurrent each, 100–300 ms latency, %s measured", mailboxes, requests, window, measure),
		count(int(total))+" requests", "", nil)
	rep.add(name, "successful request rate / allowed ceiling", pct(frac), "≥ 90%", ptr(frac >= 0.9))
	rep.add(name, "share of requests answered 429/503", fmt.Sprintf("%.2f%%", share*100), "< 2%", ptr(share < 0.02))
	rep.add(name, "requests sent after a 429 was readable and before its Retry-After elapsed", count(int(early)), "0", ptr(early == 0))
	rep.add(name, "requests already in flight when a 429 was written (not early)", count(int(max(inFlight, 0))), "", nil)
	return nil
}
