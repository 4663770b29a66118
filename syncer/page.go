package syncer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

// maxIDBytes bounds the ids stored: Graph's are a few hundred bytes at
// most, and PostgreSQL cannot index a key of more than about 2,700.
const maxIDBytes = 1024

// entry is one delta item after replays within a page are folded: the last
// occurrence of an id wins.
type entry struct {
	id      string
	raw     json.RawMessage
	removed bool
}

// foldPage reads ids and deletion markers; items without a usable id are
// returned apart for quarantine.
func foldPage(t *graphsync.Table, items []json.RawMessage) (entries []entry, noID []json.RawMessage) {
	index := make(map[string]int, len(items))
	for _, raw := range items {
		// Items come from a validated page: read the id without decoding
		// (and validating again) the whole item.
		id, ok := graphsync.ID(raw)
		if !ok || id == "" || len(id) > maxIDBytes {
			noID = append(noID, raw)
			continue
		}
		e := entry{id: id, raw: raw, removed: t.IsRemoved(raw)}
		if i, ok := index[id]; ok {
			entries[i] = e
			continue
		}
		index[id] = len(entries)
		entries = append(entries, e)
	}
	return entries, noID
}

// mappedPage is a delta page of one table with the work that needs no
// database done: its items folded, and each whole item mapped to its row
// with its values made storable. It is done before the page's transaction,
// so that the CPU a page costs does not hold the mailbox's write turn.
type mappedPage struct {
	entries []entry
	noID    []json.RawMessage
	mapped  []mapped // by entry; partial updates are mapped in the transaction
}

// mapped is one entry's row, or why it has none.
type mapped struct {
	done   bool
	row    graphsync.Row
	detail store.DetailItem
	err    error
}

// mapPage folds items read through stream st and maps the whole ones.
func (r *run) mapPage(t *graphsync.Table, st graphsync.Stream, items []json.RawMessage) *mappedPage {
	entries, noID := foldPage(t, items)
	mp := &mappedPage{entries: entries, noID: noID, mapped: make([]mapped, len(entries))}
	mc := graphsync.MapContext{User: r.req.User, Container: r.rowsStream(st).Container}
	for i, e := range entries {
		if e.removed || !t.IsFull(e.raw) {
			continue
		}
		mp.mapped[i] = mapItem(t, mc, e.id, e.raw)
	}
	return mp
}

// mapItem maps one item to its row and its details' queue entry.
func mapItem(t *graphsync.Table, mc graphsync.MapContext, id string, raw []byte) mapped {
	row, err := t.Map(raw, mc)
	if err != nil {
		return mapped{done: true, err: err}
	}
	store.Prepare(t, &row)
	m := mapped{done: true, row: row}
	if d := t.Details; d != nil {
		m.detail = store.DetailItem{ID: id, Version: d.Version(raw), Wanted: d.Wanted(raw)}
	}
	return m
}

// applyPage writes one delta page of table t read through stream st: items
// without an id are quarantined, partial updates are merged into the stored
// objects, each item is mapped to its row (an item that cannot be mapped is
// quarantined and the rest of the page goes on), then the rows are upserted
// and the removed items retired.
func (r *run) applyPage(ctx context.Context, tx store.Tx, t *graphsync.Table, st graphsync.Stream, items []json.RawMessage,
	seen *time.Time, w graphsync.Window) (store.Progress, error) {
	return r.storePage(ctx, tx, t, st, r.mapPage(t, st, items), seen, w)
}

// storePage is applyPage's part in the transaction, for a mapped page.
func (r *run) storePage(ctx context.Context, tx store.Tx, t *graphsync.Table, st graphsync.Stream, mp *mappedPage,
	seen *time.Time, w graphsync.Window) (store.Progress, error) {
	var p store.Progress
	for _, raw := range mp.noID {
		if err := r.quarantine(ctx, tx, st, "", noIDReason(t.Item, raw), raw); err != nil {
			return p, err
		}
	}
	var partial []string
	for i, e := range mp.entries {
		if !e.removed && !mp.mapped[i].done {
			partial = append(partial, e.id)
		}
	}
	stored, err := r.eng.store.RawsTx(ctx, tx, t, r.req.Conn.ID, partial)
	if err != nil {
		return p, err
	}
	rows := r.rowsStream(st)
	mc := graphsync.MapContext{User: r.req.User, Container: rows.Container}
	out := make([]graphsync.Row, 0, len(mp.entries))
	var details []store.DetailItem
	var removed []string
	for i, e := range mp.entries {
		if e.removed {
			removed = append(removed, e.id)
			continue
		}
		m := mp.mapped[i]
		raw := []byte(e.raw)
		if !m.done {
			if old, ok := stored[e.id]; ok {
				merged, err := mergeJSON(old, e.raw)
				if err != nil {
					if err := r.quarantine(ctx, tx, st, e.id, fmt.Errorf("merge partial update: %w", err), e.raw); err != nil {
						return p, err
					}
					continue
				}
				raw = merged
			}
			m = mapItem(t, mc, e.id, raw)
		}
		if m.err != nil {
			if err := r.quarantine(ctx, tx, st, e.id, m.err, raw); err != nil {
				return p, err
			}
			continue
		}
		out = append(out, m.row)
		if t.Details != nil {
			details = append(details, m.detail)
		}
	}
	u, err := r.eng.store.UpsertTx(ctx, tx, t, r.req.Conn.ID, out, seen)
	if err != nil {
		return p, err
	}
	// Queued with the rows: the details are read once the page commits.
	unwanted, err := r.eng.store.QueueDetailsTx(ctx, tx, t, r.req.Conn.ID, r.req.User, details)
	if err != nil {
		return p, err
	}
	if unwanted > 0 {
		detailsWritten.WithLabelValues(t.Details.Table.Name, "deleted").Add(float64(unwanted))
	}
	// Removals go after the upserts so that an item moved out of a folder
	// deleted in the same page is not retired with the folder.
	n, err := r.eng.store.RemoveTx(ctx, tx, t, rows, removed, w)
	if err != nil {
		return p, err
	}
	r.count("upserted", int64(u))
	r.countRemoved(n)
	return store.Progress{Upserted: int(u), Deleted: int(n.Total())}, nil
}

// countRemoved counts a removal in the metrics.
func (r *run) countRemoved(n store.Removed) {
	r.count("deleted", int64(n.Deleted))
	if r.resource.Shape() == graphsync.WindowedDelta {
		r.count("left_window", int64(n.Left))
	}
}

// quarantine stores records that cannot be written, with the reason.
func (r *run) quarantine(ctx context.Context, tx store.Tx, st graphsync.Stream, id string, reason error, raw []byte) error {
	r.count("quarantined", 1)
	r.log.WarnContext(ctx, "record quarantined", "stream", st.Container, "item_id", store.CleanText(id), "reason", reason.Error())
	return r.eng.store.QuarantineTx(ctx, tx, st, id, reason.Error(), raw)
}

// mergeJSON lays a partial delta item over the stored object: Graph's delta
// may send an updated item as its id plus only the changed properties.
func mergeJSON(stored, partial []byte) ([]byte, error) {
	var base map[string]json.RawMessage
	if err := json.Unmarshal(stored, &base); err != nil {
		return nil, fmt.Errorf("stored object: %w", err)
	}
	var upd map[string]json.RawMessage
	if err := json.Unmarshal(partial, &upd); err != nil {
		return nil, err
	}
	for k, v := range upd {
		base[k] = v
	}
	return json.Marshal(base)
}

// oneByOne writes a page's items one at a time, each in its own savepoint,
// after PostgreSQL refused the page as a whole: the items it refuses go to
// quarantine with its reason and the others are stored.
func (r *run) oneByOne(ctx context.Context, d deltaStream, items []json.RawMessage) (writeFunc, error) {
	fns := make([]writeFunc, len(items))
	for i, item := range items {
		fn, err := d.prepare(ctx, []json.RawMessage{item})
		if err != nil {
			return nil, err
		}
		fns[i] = fn
	}
	return func(ctx context.Context, tx store.Tx, seen *time.Time) (store.Progress, error) {
		var total store.Progress
		for i, fn := range fns {
			sp, err := tx.Begin(ctx)
			if err != nil {
				return total, err
			}
			p, err := fn(ctx, sp, seen)
			if err == nil {
				if err := sp.Commit(ctx); err != nil {
					return total, err
				}
				total.Upserted += p.Upserted
				total.Deleted += p.Deleted
				continue
			}
			if rerr := sp.Rollback(ctx); rerr != nil {
				return total, rerr
			}
			if !store.Rejected(err) {
				return total, err
			}
			id, _ := graphsync.ID(items[i])
			if err := r.quarantine(ctx, tx, d.stream, id, fmt.Errorf("PostgreSQL refused the record: %w", err), items[i]); err != nil {
				return total, err
			}
		}
		return total, nil
	}, nil
}

// noIDReason says why foldPage set an item apart, in an operator's words.
func noIDReason(kind string, raw []byte) error {
	var head struct {
		ID json.RawMessage `json:"id"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return fmt.Errorf("%s cannot be read as a JSON object: %w", kind, err)
	}
	var id string
	switch {
	case len(head.ID) == 0 || string(head.ID) == "null":
		return fmt.Errorf("%s without an id", kind)
	case json.Unmarshal(head.ID, &id) != nil:
		return fmt.Errorf("%s id is not a string: %.40s", kind, head.ID)
	case id == "":
		return fmt.Errorf("%s with an empty id", kind)
	case len(id) > maxIDBytes:
		return fmt.Errorf("%s id is %d bytes, more than the %d an id may have", kind, len(id), maxIDBytes)
	}
	return fmt.Errorf("%s without a usable id", kind)
}

// listDigest fingerprints a list read whole (resources without delta): the
// same digest as last time means nothing in it changed, and nothing needs
// writing.
func listDigest(items []json.RawMessage) string {
	h := sha256.New()
	for _, it := range items {
		h.Write(it)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}
