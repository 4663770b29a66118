package syncer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/graphsync/graphsync/graph"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

// detailsBatch is how many queued items are read from the queue at a time.
const detailsBatch = 200

// detailsContainer names the stream a detail's quarantined records are
// filed under.
const detailsContainer = "attachments"

// syncDetails reads the details (a message's attachments) of the items of
// t that the run's pages queued, a few items at once under the mailbox's
// gate, each item's details written and marked read in one transaction;
// then, when the connection keeps content, the content of those that have
// none yet.
func (r *run) syncDetails(ctx context.Context, t *graphsync.Table) error {
	d := t.Details
	for {
		if r.pastDeadline() {
			return errContinue
		}
		pending, err := r.eng.store.PendingDetails(ctx, t, r.req.Conn.ID, r.req.User, detailsBatch)
		if err != nil {
			return err
		}
		if len(pending) == 0 {
			break
		}
		byID := make(map[string]store.PendingDetail, len(pending))
		ids := make([]string, len(pending))
		for i, p := range pending {
			byID[p.ItemID], ids[i] = p, p.ItemID
		}
		err = r.eachInBudget(ctx, ids, func(ctx context.Context, id string) error {
			return r.readDetails(ctx, t, byID[id])
		})
		if err != nil {
			return err
		}
		if len(pending) < detailsBatch {
			break
		}
	}
	if d.ContentPath == nil {
		return nil
	}
	on, err := r.eng.store.AttachmentContentOn(ctx, r.req.Conn.ID, r.eng.cfg.AttachmentContent)
	if err != nil || !on {
		return err
	}
	return r.syncContents(ctx, d)
}

// eachInBudget runs fn for the ids side by side, as the resource allows,
// starting none once the job's time budget is spent: a batch read at a
// throttled rate can outlast the job, so the budget is checked per item,
// not only per batch.
func (r *run) eachInBudget(ctx context.Context, ids []string, fn func(ctx context.Context, id string) error) error {
	return eachParallel(ctx, ids, r.resource.Parallel(), func(ctx context.Context, id string) error {
		if r.pastDeadline() {
			return errContinue
		}
		return fn(ctx, id)
	})
}

// readDetails lists one item's details and writes them: rows listed are
// upserted, rows no longer listed retired, and the item marked read as of
// the version queued.
func (r *run) readDetails(ctx context.Context, t *graphsync.Table, p store.PendingDetail) error {
	d := t.Details
	page, err := r.getPage(ctx, d.Path(r.userPath(), p.Via, p.ItemID), pageOpts{})
	gone := graph.IsNotFound(err)
	if err != nil && !gone {
		return fmt.Errorf("read %s of %s %s: %w", d.Table.Name, t.Item, p.ItemID, err)
	}
	st := r.stream(detailsContainer)
	return r.writePage(ctx, func(tx store.Tx) error {
		if gone {
			// The item went after it was queued; its deletion comes
			// through its own delta, and its details go with it.
			return r.eng.store.DetailsDoneTx(ctx, tx, t, r.req.Conn.ID, p.ItemID, p.Version)
		}
		for _, f := range page.Refused {
			if err := r.quarantine(ctx, tx, st, f.ID, fmt.Errorf("record of %d bytes %s", f.Size, f.Reason), f.Payload); err != nil {
				return err
			}
		}
		entries, noID := foldPage(d.Table, page.Items)
		for _, raw := range noID {
			if err := r.quarantine(ctx, tx, st, "", noIDReason(d.Table.Item, raw), raw); err != nil {
				return err
			}
		}
		mc := graphsync.MapContext{User: r.req.User, Container: p.ItemID}
		rows := make([]graphsync.Row, 0, len(entries))
		for _, e := range entries {
			row, err := d.Table.Map(e.raw, mc)
			if err != nil {
				if err := r.quarantine(ctx, tx, st, e.id, err, e.raw); err != nil {
					return err
				}
				continue
			}
			rows = append(rows, row)
		}
		seen := time.Now()
		n, err := r.eng.store.UpsertTx(ctx, tx, d.Table, r.req.Conn.ID, rows, &seen)
		if err != nil {
			return err
		}
		removed, err := r.eng.store.RetireUnseenTx(ctx, tx, d.Table, r.top().In(p.ItemID), seen, graphsync.Window{})
		if err != nil {
			return err
		}
		detailsWritten.WithLabelValues(d.Table.Name, "upserted").Add(float64(n))
		detailsWritten.WithLabelValues(d.Table.Name, "deleted").Add(float64(removed.Total()))
		return r.eng.store.DetailsDoneTx(ctx, tx, t, r.req.Conn.ID, p.ItemID, p.Version)
	})
}

// syncContents stores the content of the user's attachments that have
// none yet: each streamed from $value into the database as it arrives,
// under the mailbox's gate; those over the size cap, and references
// (links, without content), are marked skipped.
func (r *run) syncContents(ctx context.Context, d *graphsync.Details) error {
	limit := r.eng.cfg.AttachmentMaxBytes
	// An attachment gone since it was listed stays pending until the next
	// listing retires it: tried once per run.
	tried := map[string]bool{}
	for {
		if r.pastDeadline() {
			return errContinue
		}
		pending, err := r.eng.store.PendingContents(ctx, r.req.Conn.ID, r.req.User, detailsBatch)
		if err != nil {
			return err
		}
		byID := make(map[string]store.PendingContent, len(pending))
		var ids []string
		for _, p := range pending {
			if !tried[p.ID] {
				tried[p.ID] = true
				byID[p.ID], ids = p, append(ids, p.ID)
			}
		}
		if len(ids) == 0 {
			return nil
		}
		err = r.eachInBudget(ctx, ids, func(ctx context.Context, id string) error {
			return r.storeContent(ctx, d, byID[id], limit)
		})
		if err != nil || len(pending) < detailsBatch {
			return err
		}
	}
}

// storeContent stores one attachment's content, or why it is skipped.
func (r *run) storeContent(ctx context.Context, d *graphsync.Details, p store.PendingContent, limit int64) error {
	conn := r.req.Conn.ID
	switch {
	case p.Kind != graphsync.AttachmentFile && p.Kind != graphsync.AttachmentItem:
		contentsStored.WithLabelValues("skipped").Inc()
		return r.eng.store.SkipContent(ctx, conn, p.ID, "no content: a "+p.Kind+" attachment")
	case p.Size > limit:
		// size is over the content's length (Outlook's stored size), so an
		// attachment under the cap by size is under it by content too.
		contentsStored.WithLabelValues("skipped").Inc()
		return r.eng.store.SkipContent(ctx, conn, p.ID, fmt.Sprintf("%d bytes, over the size cap of %d", p.Size, limit))
	}
	var stored store.StoredContent
	err := r.withToken(ctx, func(tok string) error {
		return r.eng.graph.GetContent(ctx, r.call(tok, pageOpts{}), d.ContentPath(r.userPath(), p.MessageID, p.ID), func(body io.Reader) error {
			var err error
			stored, err = r.eng.store.StoreContent(ctx, conn, p.ID, body, limit)
			return err
		})
	})
	switch {
	case errors.Is(err, store.ErrContentTooLarge):
		contentsStored.WithLabelValues("skipped").Inc()
		return r.eng.store.SkipContent(ctx, conn, p.ID, fmt.Sprintf("content over the size cap of %d bytes", limit))
	case graph.IsNotFound(err), errors.Is(err, store.ErrNotFound):
		// The attachment or its message went since it was listed: the
		// next listing retires it.
		return nil
	case err != nil:
		return fmt.Errorf("store content of attachment %s: %w", p.ID, err)
	}
	contentsStored.WithLabelValues("stored").Inc()
	contentBytes.Add(float64(stored.Length))
	return nil
}
