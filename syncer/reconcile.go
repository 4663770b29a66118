package syncer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/graphsync/graphsync/graph"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

// maxFetched bounds the items one reconciliation pass of a stream fetches;
// the rest wait for the next pass.
const maxFetched = 1000

// reconcile runs the reconciliation passes due among the streams of t's
// containers: Microsoft documents cases where delta misses a change (a
// message moved out of a folder and back with immutable ids, a OneDrive
// deletion without a tombstone), so every ReconcileEvery each stream's ids
// are listed and compared with its rows. Passes are low priority: they run
// one stream at a time after the job's delta work, and not past the job's
// time budget; each is spread over the period by a hash of its stream.
func (r *run) reconcile(ctx context.Context, t *graphsync.Table, containers []string) error {
	every := r.eng.cfg.ReconcileEvery
	if t.Reconcile == nil || every <= 0 || len(containers) == 0 {
		return nil
	}
	last, err := r.eng.store.Reconciled(ctx, r.top())
	if err != nil {
		return err
	}
	now := time.Now()
	fetched := false
	for _, c := range containers {
		st := r.stream(c)
		at, ok := last[c]
		if !ok {
			// The stream's first full round listed everything: its first
			// pass is due a period on.
			if err := r.eng.store.RecordReconciled(ctx, st, now, store.Reconciled{}); err != nil {
				return err
			}
			continue
		}
		if !reconcileDue(st, at, now, every) {
			continue
		}
		if r.pastDeadline() {
			// What was fetched has its details read by the next run.
			return nil
		}
		n, err := r.reconcileStream(ctx, t, st)
		if err != nil && !r.folderGone(ctx, c, err) {
			return err
		}
		fetched = fetched || n > 0
	}
	// The details of the items fetched are read in the same pass: the
	// run's details were read before its reconciliation.
	if fetched && t.Details != nil {
		return r.syncDetails(ctx, t)
	}
	return nil
}

// reconcileDue says whether a stream last reconciled at last is due at
// now: passes fall once per period, each stream at its own offset in it.
func reconcileDue(st graphsync.Stream, last, now time.Time, every time.Duration) bool {
	h := fnv.New64a()
	h.Write([]byte(st.String()))
	off := time.Duration(h.Sum64() % uint64(every))
	epoch := func(t time.Time) int64 { return int64(t.Add(off).UnixNano()) / int64(every) }
	return epoch(now) > epoch(last)
}

// reconcileStream lists the stream's ids, marks deleted the rows Graph no
// longer lists (changed before the listing began, so that nothing synced
// meanwhile is touched) and fetches the items Graph lists that no live row
// holds, in one transaction. It returns how many items it fetched.
func (r *run) reconcileStream(ctx context.Context, t *graphsync.Table, st graphsync.Stream) (int64, error) {
	rows := r.rowsStream(st)
	// A margin for the clocks of this process and PostgreSQL: a row changed
	// just before the listing waits for the next pass.
	start := time.Now().Add(-time.Second)
	listed := map[string]bool{}
	// The Reconcile.Listed properties of the items listed with any.
	carried := map[string]map[string]json.RawMessage{}
	link := t.Reconcile.IDs(r.userPath(), rows.Container)
	guard := r.pager(link)
	for link != "" {
		page, err := r.getPage(ctx, link, pageOpts{})
		if err != nil {
			return 0, fmt.Errorf("reconcile %s: %w", st, err)
		}
		if err := guard.check(page); err != nil {
			return 0, fmt.Errorf("reconcile %s: %w", st, err)
		}
		for _, raw := range page.Items {
			id, ok := graphsync.ID(raw)
			if !ok || id == "" {
				continue
			}
			listed[id] = true
			if props := listedProps(t.Reconcile.Listed, raw); props != nil {
				carried[id] = props
			}
		}
		link = page.NextLink
	}
	ids := make([]string, 0, len(listed))
	for id := range listed {
		ids = append(ids, id)
	}
	missing, err := r.eng.store.NotLive(ctx, t, r.req.Conn.ID, ids)
	if err != nil {
		return 0, err
	}
	var items []json.RawMessage
	for _, id := range missing[:min(len(missing), maxFetched)] {
		var raw json.RawMessage
		err := r.withToken(ctx, func(tok string) error {
			return r.eng.graph.Get(ctx, r.call(tok, pageOpts{}), t.Reconcile.Item(r.userPath(), rows.Container, id), &raw)
		})
		if graph.IsNotFound(err) {
			continue // gone since it was listed
		}
		if err != nil {
			return 0, fmt.Errorf("reconcile %s: fetch %s %s: %w", st, t.Item, id, err)
		}
		items = append(items, withListed(raw, t.Reconcile.Listed, carried[id]))
	}
	var done store.Reconciled
	err = r.writePage(ctx, func(tx store.Tx) error {
		stale, err := r.eng.store.LiveBeforeTx(ctx, tx, t, rows, start, ids)
		if err != nil {
			return err
		}
		var gone []string
		for _, id := range stale {
			if !listed[id] {
				gone = append(gone, id)
			}
		}
		n, err := r.eng.store.RemoveTx(ctx, tx, t, rows, gone, graphsync.Window{})
		if err != nil {
			return err
		}
		p, err := r.applyPage(ctx, tx, t, st, items, nil, graphsync.Window{})
		if err != nil {
			return err
		}
		done = store.Reconciled{Listed: int64(len(listed)), Deleted: n.Total(), Fetched: int64(p.Upserted)}
		return r.eng.store.RecordReconciledTx(ctx, tx, st, start, done)
	})
	if err != nil {
		return 0, fmt.Errorf("reconcile %s: %w", st, err)
	}
	reconciled.WithLabelValues(r.resource.Name(), "deleted").Add(float64(done.Deleted))
	reconciled.WithLabelValues(r.resource.Name(), "fetched").Add(float64(done.Fetched))
	if done.Deleted+done.Fetched > 0 {
		r.log.InfoContext(ctx, "reconciliation repaired what delta missed", "stream", st.Container,
			"listed", done.Listed, "deleted", done.Deleted, "fetched", done.Fetched)
	}
	return done.Fetched, nil
}

// listedProps returns the properties of names a listed item carries; nil
// when it carries none.
func listedProps(names []string, raw json.RawMessage) map[string]json.RawMessage {
	// Most listed items carry none: only those naming one are decoded.
	if !slices.ContainsFunc(names, func(n string) bool { return bytes.Contains(raw, []byte(`"`+n+`"`)) }) {
		return nil
	}
	var o map[string]json.RawMessage
	if json.Unmarshal(raw, &o) != nil {
		return nil
	}
	var out map[string]json.RawMessage
	for _, n := range names {
		if v, ok := o[n]; ok {
			if out == nil {
				out = map[string]json.RawMessage{}
			}
			out[n] = v
		}
	}
	return out
}

// withListed gives a fetched item the listing's values of names, and
// drops those the listing did not carry. An item that is no JSON object
// is returned as it came, for the page to quarantine.
func withListed(raw json.RawMessage, names []string, listed map[string]json.RawMessage) json.RawMessage {
	if len(names) == 0 {
		return raw
	}
	var o map[string]json.RawMessage
	if json.Unmarshal(raw, &o) != nil || o == nil {
		return raw
	}
	for _, n := range names {
		if v, ok := listed[n]; ok {
			o[n] = v
		} else {
			delete(o, n)
		}
	}
	out, err := json.Marshal(o)
	if err != nil {
		return raw
	}
	return out
}
