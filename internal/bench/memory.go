package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graphsync"
)

// memory measures the worker's peak resident set while it syncs one large
// mailbox: pages must stream through without accumulating. All but a
// hundred of its messages sit in the emulator's lazy archive, generated as
// they are served (a million stored messages would not fit the machine);
// the worker decodes, normalizes and upserts each as it does any message.
//
// The measure ends when every message is stored. About a quarter of them
// then wait for their attachment lists, which the worker reads at Outlook's
// per-mailbox pace (about 16 requests a second): hours for a million
// messages, none of it page streaming. The attachments scenario measures
// that path.
func memory(ctx context.Context, o *Options, rep *Report) error {
	const name = "memory"
	n := o.MemoryMessages
	if n == 0 {
		n = o.size(1_000_000, 50_000)
	}
	stored := min(100, n)
	e, err := o.newEnv(ctx, name, tinyOthers(emulator.Config{Users: 1, MessagesPerUser: stored, LazyMessages: n - stored}))
	if err != nil {
		return err
	}
	defer e.close()
	if err := e.connect(ctx, []*graphsync.Resource{graphsync.Mail}); err != nil {
		return err
	}
	w, err := e.startWorker(ctx, name, nil)
	if err != nil {
		return err
	}
	defer w.stop()
	dur, err := e.untilStored(ctx, n, 60*time.Minute)
	if err != nil {
		return err
	}
	rss, err := w.peakRSS()
	if err != nil {
		return err
	}
	mb := float64(rss) / (1 << 20)
	rep.add(name, fmt.Sprintf("one mailbox of %s messages, pages of %d: worker peak RSS (VmHWM) until all are stored", count(n), o.mailPageSize()), fmt.Sprintf("%.0f MB", mb), "< 150 MB", ptr(mb < 150))
	rep.add(name, "records/s", perSec(float64(n)/dur.Seconds()), "", nil)
	return nil
}

// untilStored enqueues a pass and waits until n live messages are stored,
// returning how long that took; the pass's jobs may still be running.
func (e *env) untilStored(ctx context.Context, n int, timeout time.Duration) (time.Duration, error) {
	if _, err := e.pool.Exec(ctx, "DELETE FROM river_job WHERE state = 'completed'"); err != nil {
		return 0, err
	}
	start := time.Now()
	if _, err := e.svc.EnqueueSync(ctx, e.river, 0, nil); err != nil {
		return 0, err
	}
	for {
		var synced int
		var lastErr *string
		err := e.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM mail_messages WHERE deleted_at IS NULL),
			(SELECT max(errors::text) FROM river_job WHERE kind = 'graphsync_sync' AND state IN ('discarded', 'cancelled', 'retryable'))`).Scan(&synced, &lastErr)
		if err != nil {
			return 0, err
		}
		switch {
		case lastErr != nil:
			return 0, fmt.Errorf("a sync job failed after %d of %d messages: %.500s", synced, n, *lastErr)
		case synced > n:
			return 0, fmt.Errorf("synced %d messages, the emulator holds %d", synced, n)
		case synced == n:
			return time.Since(start), nil
		case time.Since(start) > timeout:
			return 0, fmt.Errorf("%d of %d messages stored after %s", synced, n, timeout)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
