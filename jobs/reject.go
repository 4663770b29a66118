package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/graphsync/graphsync/store"
)

// maxIDBytes bounds the ids stored: Graph's are a few hundred bytes at
// most, and PostgreSQL cannot index a key of more than about 2,700.
const maxIDBytes = 1024

// oneByOne applies a page's items one at a time, each in its own savepoint,
// after PostgreSQL refused the page as a whole: the items it refuses go to
// quarantine with its reason and the others are stored.
func (r *run) oneByOne(d deltaStream) func(context.Context, pgx.Tx, []json.RawMessage, *time.Time) (store.Progress, error) {
	return func(ctx context.Context, tx pgx.Tx, items []json.RawMessage, seen *time.Time) (store.Progress, error) {
		var total store.Progress
		for _, item := range items {
			sp, err := tx.Begin(ctx)
			if err != nil {
				return total, err
			}
			p, err := d.apply(ctx, sp, []json.RawMessage{item}, seen)
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
			id, _ := itemID(item)
			if err := r.quarantine(ctx, tx, d.stream, id, fmt.Errorf("PostgreSQL refused the record: %w", err), item); err != nil {
				return total, err
			}
		}
		return total, nil
	}
}

// itemID reads an item's id when it is a string.
func itemID(raw []byte) (string, bool) {
	var head struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(raw, &head) != nil || head.ID == "" {
		return "", false
	}
	return head.ID, true
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
