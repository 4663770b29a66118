package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/graphsync/graphsync/graphsync"
)

// Details (graphsync.Details): rows read per item with requests of their
// own, such as a message's attachments. The page transaction that writes
// items queues those whose version changed (detail_fetches); the engine
// reads the queue after the page commits and marks each item done in the
// transaction that writes its details. A crash in between leaves the item
// queued, and reading its details again rewrites nothing.

// DetailItem is an item of a page, as its details' queue needs it.
type DetailItem struct {
	ID, Version string
	// Wanted says the item has details to read; an item queued before is
	// queued again whatever it says, so that its details are retired
	// (without Details.RetireUnwanted).
	Wanted bool
}

// QueueDetailsTx queues the items of t (a table with Details) whose
// version differs from the one last queued. With Details.RetireUnwanted,
// the details of the items that want none are retired instead, and any
// read queued for them dropped; it returns how many rows it retired.
func (s *Store) QueueDetailsTx(ctx context.Context, tx Tx, t *graphsync.Table, conn int64, user string, items []DetailItem) (int64, error) {
	if t.Details == nil || len(items) == 0 {
		return 0, nil
	}
	d := t.Details
	var ids, versions, unwanted, unwantedVersions []string
	var wanted []bool
	for _, it := range items {
		id, v := CleanText(it.ID), CleanText(it.Version)
		if d.RetireUnwanted && !it.Wanted {
			unwanted, unwantedVersions = append(unwanted, id), append(unwantedVersions, v)
			continue
		}
		ids, versions, wanted = append(ids, id), append(versions, v), append(wanted, it.Wanted)
	}
	if len(ids) > 0 {
		_, err := tx.Exec(ctx, `INSERT INTO detail_fetches AS d (connection_id, table_name, item_id, user_id, want_version)
		SELECT $1, $2, x.id, $3, x.version FROM unnest($4::text[], $5::text[], $6::bool[]) AS x(id, version, wanted)
		WHERE x.wanted OR EXISTS (SELECT 1 FROM detail_fetches e WHERE e.connection_id = $1 AND e.table_name = $2 AND e.item_id = x.id)
		ON CONFLICT (connection_id, table_name, item_id) DO UPDATE
			SET want_version = EXCLUDED.want_version, user_id = EXCLUDED.user_id, queued_at = now()
			WHERE d.want_version IS DISTINCT FROM EXCLUDED.want_version`,
			conn, d.Table.Name, CleanText(user), ids, versions, wanted)
		if err != nil {
			return 0, fmt.Errorf("queue %s of %d %ss: %w", d.Table.Name, len(ids), t.Item, err)
		}
	}
	if len(unwanted) == 0 {
		return 0, nil
	}
	// A read queued before, not yet made, would store what the item no
	// longer owns: it is recorded done as of this version.
	if _, err := tx.Exec(ctx, `UPDATE detail_fetches d SET want_version = x.version, done_version = x.version, done_at = now()
		FROM unnest($3::text[], $4::text[]) AS x(id, version)
		WHERE d.connection_id = $1 AND d.table_name = $2 AND d.item_id = x.id
			AND (d.want_version IS DISTINCT FROM x.version OR d.done_version IS DISTINCT FROM x.version)`,
		conn, d.Table.Name, unwanted, unwantedVersions); err != nil {
		return 0, fmt.Errorf("drop queued %s of %d %ss: %w", d.Table.Name, len(unwanted), t.Item, err)
	}
	tag, err := tx.Exec(ctx, "UPDATE "+d.Table.Name+" SET deleted_at = now(), synced_at = now()"+
		" WHERE connection_id = $1 AND "+d.Table.Container+" = ANY($2) AND deleted_at IS NULL", conn, unwanted)
	if err != nil {
		return 0, fmt.Errorf("retire %s of %d %ss that want none: %w", d.Table.Name, len(unwanted), t.Item, err)
	}
	return tag.RowsAffected(), nil
}

// PendingDetail is a live item whose details are to be read.
type PendingDetail struct {
	ItemID, Version string
	// Via is the item's Details.Via column ("" without one).
	Via string
}

// PendingDetails returns up to limit live items of t of a user whose
// details are to be read, oldest queued first.
func (s *Store) PendingDetails(ctx context.Context, t *graphsync.Table, conn int64, user string, limit int) ([]PendingDetail, error) {
	via := "''"
	if v := t.Details.Via; v != "" {
		via = "coalesce(i." + v + ", '')"
	}
	// Each queued item is looked up by its primary key: LIMIT 1 keeps the
	// lookup from being flattened into a join, and deleted_at is tested
	// outside it so that no partial index (WHERE deleted_at IS NULL) can
	// stand in for the key. On tables not yet analyzed the planner would
	// otherwise scan the whole item table for every queued item.
	rows, err := s.pool.Query(ctx, `SELECT d.item_id, coalesce(d.want_version, ''), i.via FROM detail_fetches d
		CROSS JOIN LATERAL (SELECT `+via+` AS via, i.deleted_at FROM `+t.Name+` i
			WHERE i.connection_id = d.connection_id AND i.id = d.item_id LIMIT 1) i
		WHERE i.deleted_at IS NULL AND d.connection_id = $1 AND d.user_id = $2 AND d.table_name = $3 AND d.want_version IS DISTINCT FROM d.done_version
		ORDER BY d.queued_at, d.item_id LIMIT $4`, conn, CleanText(user), t.Details.Table.Name, limit)
	if err != nil {
		return nil, fmt.Errorf("list %ss whose %s to read: %w", t.Item, t.Details.Table.Name, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (PendingDetail, error) {
		var p PendingDetail
		return p, r.Scan(&p.ItemID, &p.Version, &p.Via)
	})
	if err != nil {
		return nil, fmt.Errorf("list %ss whose %s to read: %w", t.Item, t.Details.Table.Name, err)
	}
	return out, nil
}

// DetailsDoneTx records that an item's details were read as of version:
// should the item have changed since, it stays queued.
func (s *Store) DetailsDoneTx(ctx context.Context, tx Tx, t *graphsync.Table, conn int64, item, version string) error {
	_, err := tx.Exec(ctx, `UPDATE detail_fetches SET done_version = $4, done_at = now()
		WHERE connection_id = $1 AND table_name = $2 AND item_id = $3`, conn, t.Details.Table.Name, CleanText(item), CleanText(version))
	if err != nil {
		return fmt.Errorf("record %s of %s %s read: %w", t.Details.Table.Name, t.Item, item, err)
	}
	return nil
}
