package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graphsync"
)

// scaleOut syncs the same mailboxes with 1, 2 and 3 worker processes on one
// database against an emulator with Graph-like latency.
func scaleOut(ctx context.Context, o *Options, rep *Report) error {
	const name = "scale"
	// More mailboxes than one process's 20 sync workers, so that further
	// processes find work.
	users := o.size(48, 30)
	per := o.size(500, 200)
	n := users * per
	e, err := o.newEnv(ctx, name, tinyOthers(emulator.Config{Users: users, MessagesPerUser: per,
		Latency: emulator.Latency{Min: 100 * time.Millisecond, Max: 300 * time.Millisecond}}))
	if err != nil {
		return err
	}
	defer e.close()
	if err := e.connect(ctx, []*graphsync.Resource{graphsync.Mail}); err != nil {
		return err
	}
	var base float64
	for k := 1; k <= 3; k++ {
		// Each count of processes does the same initial sync: messages,
		// attachment lists and all.
		if err := e.forgetMail(ctx); err != nil {
			return err
		}
		var ws []*worker
		for i := 0; i < k; i++ {
			w, err := e.startWorker(ctx, fmt.Sprintf("%s-%d-of-%d", name, i+1, k), nil)
			if err != nil {
				return err
			}
			ws = append(ws, w)
		}
		cpu0 := make([]time.Duration, k)
		for i, w := range ws {
			cpu0[i], _ = w.cpu()
		}
		_, dur, err := e.pass(ctx, 30*time.Minute)
		cpus := ""
		for i, w := range ws {
			c, _ := w.cpu()
			if i > 0 {
				cpus += ", "
			}
			cpus += pct((c - cpu0[i]).Seconds() / dur.Seconds())
			w.stop()
		}
		if err != nil {
			return err
		}
		var synced int
		if err := e.pool.QueryRow(ctx, "SELECT count(*) FROM mail_messages WHERE deleted_at IS NULL").Scan(&synced); err != nil {
			return err
		}
		if synced != n {
			return fmt.Errorf("%d workers synced %d messages, the emulator holds %d", k, synced, n)
		}
		r := float64(n) / dur.Seconds()
		if k == 1 {
			base = r
		}
		rep.add(name, fmt.Sprintf("%d worker process(es), %d mailboxes, 100–300 ms latency: records/s", k, users), perSec(r), "", nil)
		rep.add(name, fmt.Sprintf("%d worker process(es): speed-up over one; CPU per process (of one core)", k), fmt.Sprintf("×%.2f; %s", r/base, cpus), "", nil)
	}
	return nil
}
