package store

import (
	"context"
	"fmt"
	"time"

	"github.com/graphsync/graphsync/graphsync"
)

// Trees (graphsync.Table.Tree): rows with a name and a parent_id form a
// tree per drive; the store keeps each row's path through renames and moves
// of any ancestor (Graph's delta sends none), retires a deleted folder's
// descendants (delta need not report each), and brings them back when
// Graph reports the folder, or an item below it, alive again.

// maxTreeDepth bounds the walks down a tree, so rows that a half-applied
// round left pointing at each other cannot loop forever.
const maxTreeDepth = 512

// placement is where a stored item sits: its name and parent.
type placement struct{ name, parent string }

// drivePlacement reads the placement of the live, placed (path known) items
// among ids; the others need their paths computed.
func drivePlacement(ctx context.Context, tx Tx, t *graphsync.Table, conn int64, ids []string) (map[string]placement, error) {
	rows, err := tx.Query(ctx, `SELECT id, coalesce(name, ''), coalesce(parent_id, '') FROM `+t.Name+`
		WHERE connection_id = $1 AND id = ANY($2) AND deleted_at IS NULL AND path IS NOT NULL`, conn, ids)
	if err != nil {
		return nil, fmt.Errorf("read %s placement: %w", t.Name, err)
	}
	defer rows.Close()
	out := make(map[string]placement, len(ids))
	for rows.Next() {
		var id string
		var p placement
		if err := rows.Scan(&id, &p.name, &p.parent); err != nil {
			return nil, fmt.Errorf("read %s placement: %w", t.Name, err)
		}
		out[id] = p
	}
	return out, rows.Err()
}

// updatePathsTx recomputes the paths of the given items and of everything
// below them, from their parents' stored paths: a renamed or moved folder's
// descendants are not reported by delta, and an item that arrived before
// its parent gets its path once the parent is written. Items below that a
// folder deletion retired (deleted_with set) come back with it, and so do
// the rows of t's cascades retired with them (in the same transaction:
// the same deleted_at), as delta does not report them for a new read.
func updatePathsTx(ctx context.Context, tx Tx, t *graphsync.Table, conn int64, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	// The deepest derivation of a row wins: an item written with its
	// parent in the same page is reached from the parent's new path too.
	// was reads the rows as they were before the update.
	rows, err := tx.Query(ctx, `
WITH RECURSIVE tree (id, path, depth) AS (
    SELECT d.id,
           CASE WHEN d.is_root THEN '/' ELSE rtrim(p.path, '/') || '/' || d.name END,
           0
    FROM `+t.Name+` d
    LEFT JOIN `+t.Name+` p ON p.connection_id = d.connection_id AND p.id = d.parent_id AND p.deleted_at IS NULL
    WHERE d.connection_id = $1 AND d.id = ANY($2) AND d.deleted_at IS NULL
  UNION ALL
    SELECT c.id, rtrim(t.path, '/') || '/' || c.name, t.depth + 1
    FROM tree t
    JOIN `+t.Name+` c ON c.connection_id = $1 AND c.parent_id = t.id
        AND (c.deleted_at IS NULL OR c.deleted_with IS NOT NULL) AND NOT c.is_root
    WHERE t.depth < $3
), best AS (
    SELECT DISTINCT ON (id) id, path FROM tree ORDER BY id, depth DESC
), was AS (
    SELECT d.id, d.deleted_at FROM `+t.Name+` d JOIN best ON best.id = d.id
    WHERE d.connection_id = $1 AND d.deleted_at IS NOT NULL
), updated AS (
    UPDATE `+t.Name+` d SET path = best.path, deleted_at = NULL, deleted_with = NULL, synced_at = now()
    FROM best
    WHERE d.connection_id = $1 AND d.id = best.id
        AND (d.path IS DISTINCT FROM best.path OR d.deleted_at IS NOT NULL)
    RETURNING d.id
)
SELECT was.id, was.deleted_at FROM was JOIN updated ON updated.id = was.id`,
		conn, cleanAll(ids), maxTreeDepth)
	if err != nil {
		return fmt.Errorf("update %s paths: %w", t.Name, err)
	}
	var back []string
	var at []time.Time
	for rows.Next() {
		var id string
		var when time.Time
		if err := rows.Scan(&id, &when); err != nil {
			rows.Close()
			return fmt.Errorf("update %s paths: %w", t.Name, err)
		}
		back, at = append(back, id), append(at, when)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("update %s paths: %w", t.Name, err)
	}
	if len(back) == 0 {
		return nil
	}
	for _, c := range t.Cascades {
		if _, err := tx.Exec(ctx, `UPDATE `+c.Table.Name+` r SET deleted_at = NULL, synced_at = now()
			FROM unnest($2::text[], $3::timestamptz[]) AS x(id, at)
			WHERE r.connection_id = $1 AND r.`+c.Column+` = x.id AND r.deleted_at = x.at`, conn, back, at); err != nil {
			return fmt.Errorf("restore %s of %s back below their folder: %w", c.Table.Name, t.Name, err)
		}
	}
	return nil
}

// deleteTreeTx retires items reported deleted and every live item below
// them, and returns the rows it retired.
func deleteTreeTx(ctx context.Context, tx Tx, t *graphsync.Table, conn int64, ids []string) ([]string, error) {
	retired, err := queryIDs(ctx, tx, `UPDATE `+t.Name+` SET deleted_at = now(), deleted_with = NULL, synced_at = now()
		WHERE connection_id = $1 AND id = ANY($2) AND (deleted_at IS NULL OR deleted_with IS NOT NULL) RETURNING id`, conn, ids)
	if err != nil {
		return nil, fmt.Errorf("delete %s: %w", t.Name, err)
	}
	below, err := retireBelowTx(ctx, tx, t, conn, ids)
	return append(retired, below...), err
}

// retireBelowTx retires the live descendants of folders, recording which
// deleted folder took them along, and returns them.
func retireBelowTx(ctx context.Context, tx Tx, t *graphsync.Table, conn int64, folders []string) ([]string, error) {
	retired, err := queryIDs(ctx, tx, `
WITH RECURSIVE below (id, top, depth) AS (
    SELECT c.id, c.parent_id, 1 FROM `+t.Name+` c
    WHERE c.connection_id = $1 AND c.parent_id = ANY($2) AND c.deleted_at IS NULL
  UNION ALL
    SELECT c.id, b.top, b.depth + 1 FROM below b
    JOIN `+t.Name+` c ON c.connection_id = $1 AND c.parent_id = b.id AND c.deleted_at IS NULL
    WHERE b.depth < $3
)
UPDATE `+t.Name+` d SET deleted_at = now(), deleted_with = below.top, synced_at = now()
FROM (SELECT DISTINCT ON (id) id, top FROM below ORDER BY id, depth) below
WHERE d.connection_id = $1 AND d.id = below.id AND d.deleted_at IS NULL
RETURNING d.id`, conn, folders, maxTreeDepth)
	if err != nil {
		return nil, fmt.Errorf("retire %s below deleted folders: %w", t.Name, err)
	}
	return retired, nil
}

// retireUnseenTreeTx retires a user's items that a full enumeration begun
// at since did not see, in the drives that enumeration saw (its root is
// always among its items), and returns them.
func retireUnseenTreeTx(ctx context.Context, tx Tx, t *graphsync.Table, conn int64, user string, since time.Time) ([]string, error) {
	retired, err := queryIDs(ctx, tx, `UPDATE `+t.Name+` SET deleted_at = now(), deleted_with = NULL, synced_at = now()
		WHERE connection_id = $1 AND user_id = $2 AND deleted_at IS NULL AND (seen_at IS NULL OR seen_at < $3)
		AND coalesce(drive_id, '') IN (SELECT coalesce(drive_id, '') FROM `+t.Name+`
			WHERE connection_id = $1 AND user_id = $2 AND seen_at >= $3)
		RETURNING id`,
		conn, CleanText(user), since)
	if err != nil {
		return nil, fmt.Errorf("retire unseen %s: %w", t.Name, err)
	}
	return retired, nil
}
