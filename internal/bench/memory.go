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
