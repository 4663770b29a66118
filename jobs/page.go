package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/jackc/pgx/v5"

	"github.com/graphsync/graphsync/store"
)

// pageRows turns a page's folded entries into rows: removed entries become
// ids; the others are laid over their stored object when partial and
// converted by toRow. An entry that cannot be converted is quarantined and
// the rest of the page goes on.
func pageRows[T any](ctx context.Context, r *run, tx pgx.Tx, st store.Stream, entries []entry, stored map[string][]byte,
	toRow func(raw []byte) (T, error)) (rows []T, removed []string, err error) {
	rows = make([]T, 0, len(entries))
	for _, e := range entries {
		if e.removed {
			removed = append(removed, e.id)
			continue
		}
		raw, ok, err := r.mergePartial(ctx, tx, st, e, stored)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			continue
		}
		row, err := toRow(raw)
		if err != nil {
			if err := r.quarantine(ctx, tx, st, e.id, err, raw); err != nil {
				return nil, nil, err
			}
			continue
		}
		rows = append(rows, row)
	}
	return rows, removed, nil
}

// written counts a page's changes in the metrics and its progress.
func (r *run) written(upserted, deleted int64) store.Progress {
	recordsWritten.WithLabelValues(r.resource, "upserted").Add(float64(upserted))
	recordsWritten.WithLabelValues(r.resource, "deleted").Add(float64(deleted))
	return store.Progress{Upserted: int(upserted), Deleted: int(deleted)}
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
