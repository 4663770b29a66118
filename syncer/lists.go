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
	tt, ct := r.resource.Outer(), r.resource.Folders()
	st := r.stream(container)
	var all []json.RawMessage
	for _, tc := range lists {
		all = append(append(all, tc.raw), tc.children...)
	}
	digest := listDigest(all)
	state, err := r.state(ctx, st)
	if err != nil {
		return nil, err
	}
	idle := digest == state.Watermark && state.LastSuccessAt != nil
	live := map[string]string{}
	var teamRows, chanRows []graphsync.Row
	var teamIDs, chanIDs []string
	var bad []func(tx store.Tx) error
	quarantine := func(t *graphsync.Table, id string, err error, raw []byte) {
		bad = append(bad, func(tx store.Tx) error { return r.quarantine(ctx, tx, st, id, err, raw) })
	}
	for _, tc := range lists {
		if tc.id == "" {
			quarantine(tt, "", noIDReason(tt.Item, tc.raw), tc.raw)
			continue
		}
		// An outer row that cannot be mapped is still listed: keep its rows.
		teamIDs = append(teamIDs, tc.id)
		row, err := tt.Map(tc.raw, graphsync.MapContext{User: r.req.User})
		if err != nil {
			quarantine(tt, tc.id, err, tc.raw)
		} else {
			teamRows = append(teamRows, row)
		}
		entries, noID := foldPage(ct, tc.children)
		for _, raw := range noID {
			quarantine(ct, "", noIDReason(ct.Item, raw), raw)
		}
		for _, e := range entries {
			chanIDs = append(chanIDs, e.id)
			live[e.id] = tc.id
			row, err := ct.Map(e.raw, graphsync.MapContext{User: r.req.User, Container: tc.id})
			if err != nil {
				quarantine(ct, e.id, err, e.raw)
				continue
			}
			chanRows = append(chanRows, row)
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
		}{{tt, teamRows, teamIDs}, {ct, chanRows, chanIDs}} {
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
		return nil, fmt.Errorf("store %s and %s: %w", tt.Name, ct.Name, err)
	}
	return live, nil
}
