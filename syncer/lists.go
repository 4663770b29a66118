package syncer

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

// listed is what the lists of a two-level tree say of one outer row (a
// team, a site): the row as Graph serves it and its children (channels,
// libraries).
type listed struct {
	id       string
	raw      json.RawMessage
	children []json.RawMessage
}

// storeLists writes the outer rows (Resource.Outer) and their children
// (Resource.Folders) in one transaction, checkpointed as the stream of
// container, retiring those no longer listed (with what cascades from
// them), and returns the outer row of every live child. The same lists as
// last time write nothing.
func (r *run) storeLists(ctx context.Context, container string, lists []listed) (map[string]string, error) {
	ot, ct := r.resource.Outer(), r.resource.Folders()
	st := r.stream(container)
	var all []json.RawMessage
	for _, l := range lists {
		all = append(append(all, l.raw), l.children...)
	}
	digest := listDigest(all)
	state, err := r.state(ctx, st)
	if err != nil {
		return nil, err
	}
	idle := digest == state.Watermark && state.LastSuccessAt != nil
	live := map[string]string{}
	var outerRows, childRows []graphsync.Row
	var outerIDs, childIDs []string
	var bad []func(tx store.Tx) error
	quarantine := func(id string, err error, raw []byte) {
		bad = append(bad, func(tx store.Tx) error { return r.quarantine(ctx, tx, st, id, err, raw) })
	}
	for _, l := range lists {
		if l.id == "" {
			quarantine("", noIDReason(ot.Item, l.raw), l.raw)
			continue
		}
		// An outer row that cannot be mapped is still listed: keep its rows.
		outerIDs = append(outerIDs, l.id)
		row, err := ot.Map(l.raw, graphsync.MapContext{User: r.req.User})
		if err != nil {
			quarantine(l.id, err, l.raw)
		} else {
			outerRows = append(outerRows, row)
		}
		entries, noID := foldPage(ct, l.children)
		for _, raw := range noID {
			quarantine("", noIDReason(ct.Item, raw), raw)
		}
		for _, e := range entries {
			childIDs = append(childIDs, e.id)
			live[e.id] = l.id
			row, err := ct.Map(e.raw, graphsync.MapContext{User: r.req.User, Container: l.id})
			if err != nil {
				quarantine(e.id, err, e.raw)
				continue
			}
			childRows = append(childRows, row)
		}
	}
	if idle {
		// Records that could not be stored were quarantined last time.
		r.markIdle(store.Finish{Stream: st})
		return live, nil
	}
	err = r.writePage(ctx, func(tx store.Tx) error {
		for _, q := range bad {
			if err := q(tx); err != nil {
				return err
			}
		}
		for _, w := range []struct {
			t    *graphsync.Table
			rows []graphsync.Row
			keep []string
		}{{ot, outerRows, outerIDs}, {ct, childRows, childIDs}} {
			n, err := r.eng.store.UpsertTx(ctx, tx, w.t, r.req.Conn.ID, w.rows, nil)
			if err != nil {
				return err
			}
			gone, err := r.eng.store.RetireMissingTx(ctx, tx, w.t, r.req.Conn.ID, r.req.User, w.keep)
			if err != nil {
				return err
			}
			r.count("upserted", n)
			r.count("deleted", int64(len(gone)))
		}
		if err := r.eng.store.SetWatermarkTx(ctx, tx, st, digest); err != nil {
			return err
		}
		return r.eng.store.FinishRoundTx(ctx, tx, store.Finish{Stream: st})
	})
	if err != nil {
		return nil, fmt.Errorf("store %s and %s: %w", ot.Name, ct.Name, err)
	}
	return live, nil
}
