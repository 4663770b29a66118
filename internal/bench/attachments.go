package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graphsync"
)

// attachmentTarget is the memory target of a worker storing attachment
// content: the same as syncing a large mailbox, whatever the attachment's
// size, since content streams through in chunks.
const attachmentTarget = 150

// attachments measures attachment ingest with content kept: a mailbox whose
// messages carry a 100 MB file among the generated attachments, synced by
// a worker that stores content. The worker's peak resident set must stay
// under the memory target, far below the attachment's size (it is never
// held whole), and every stored content must hash as the emulator's does.
func attachments(ctx context.Context, o *Options, rep *Report) error {
	const name = "attachments"
	big := int64(100 << 20)
	e, err := o.newEnv(ctx, name, tinyOthers(emulator.Config{Users: 1, MessagesPerUser: o.size(400, 100)}))
	if err != nil {
		return err
	}
	defer e.close()
	user := e.em.Users()[0].ID
	truth, err := e.em.Truth(user, "messages")
	if err != nil {
		return err
	}
	if len(truth) == 0 {
		return fmt.Errorf("the mailbox has no message")
	}
	var first struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(truth[0], &first); err != nil {
		return err
	}
	if _, err := e.em.AddAttachment(user, first.ID, emulator.AttachmentSpec{Name: "backup.zip", Size: big}); err != nil {
		return err
	}
	if err := e.connect(ctx, []*graphsync.Resource{graphsync.Mail}); err != nil {
		return err
	}
	w, err := e.startWorker(ctx, name, func(c *WorkerConfig) {
		c.AttachmentContent, c.AttachmentMaxBytes = true, 150<<20
	})
	if err != nil {
		return err
	}
	defer w.stop()
	start := time.Now()
	if _, _, err := e.pass(ctx, 30*time.Minute); err != nil {
		return err
	}
	dur := time.Since(start)
	rss, err := w.peakRSS()
	if err != nil {
		return err
	}
	var files, stored int
	var bytes, largest int64
	if err := e.pool.QueryRow(ctx, `SELECT count(*), count(content_sha256), coalesce(sum(content_length), 0), coalesce(max(content_length), 0)
		FROM mail_attachments WHERE deleted_at IS NULL AND kind IN ('file', 'item')`).Scan(&files, &stored, &bytes, &largest); err != nil {
		return err
	}
	if stored != files || largest != big {
		return fmt.Errorf("stored the content of %d of %d attachments, the largest %d bytes (want every one, and %d)", stored, files, largest, big)
	}
	if err := e.verifyMail(ctx); err != nil {
		return err
	}
	mb := float64(rss) / (1 << 20)
	rep.add(name, fmt.Sprintf("%d attachments, %d MB of content, one of 100 MB: worker peak RSS (VmHWM)", files, bytes>>20),
		fmt.Sprintf("%.0f MB", mb), fmt.Sprintf("< %d MB", attachmentTarget), ptr(mb < attachmentTarget))
	rep.add(name, "attachment content ingested per second of the whole pass (messages, attachment lists, content streamed into large objects; SHA-256 checked against the emulator's)",
		fmt.Sprintf("%.1f MB/s", float64(bytes)/(1<<20)/dur.Seconds()), "", nil)
	return nil
}
