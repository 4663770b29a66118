package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/graphsync/graphsync/graphsync"
)

// Reconciliation: a stream's ids as Graph lists them compared with its
// rows, to repair what delta missed (see syncer's reconcile).

// Reconciled is what one reconciliation pass of a stream found.
type Reconciled struct {
	Listed, Deleted, Fetched int64
}

// Reconciled returns when each stream of top's resource and user was last
// reconciled, by container.
func (s *Store) Reconciled(ctx context.Context, top graphsync.Stream) (map[string]time.Time, error) {
	rows, err := s.pool.Query(ctx, `SELECT stream, reconciled_at FROM reconciliations
		WHERE connection_id = $1 AND user_id = $2 AND resource = $3`, top.Connection, CleanText(top.User), top.Resource.Name())
	if err != nil {
		return nil, fmt.Errorf("read reconciliations of %s: %w", top, err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var c string
		var at time.Time
		if err := rows.Scan(&c, &at); err != nil {
			return nil, fmt.Errorf("read reconciliations of %s: %w", top, err)
		}
		out[c] = at
	}
	return out, rows.Err()
}

// RecordReconciled records a stream's reconciliation begun at at.
func (s *Store) RecordReconciled(ctx context.Context, st graphsync.Stream, at time.Time, r Reconciled) error {
	return s.InTx(ctx, func(tx Tx) error { return s.RecordReconciledTx(ctx, tx, st, at, r) })
}

// RecordReconciledTx is RecordReconciled within tx.
func (s *Store) RecordReconciledTx(ctx context.Context, tx Tx, st graphsync.Stream, at time.Time, r Reconciled) error {
	_, err := tx.Exec(ctx, `INSERT INTO reconciliations (connection_id, user_id, resource, stream, reconciled_at, listed, deleted, fetched)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (connection_id, user_id, resource, stream) DO UPDATE SET reconciled_at = EXCLUDED.reconciled_at,
			listed = EXCLUDED.listed, deleted = EXCLUDED.deleted, fetched = EXCLUDED.fetched`,
		st.Connection, CleanText(st.User), st.Resource.Name(), CleanText(st.Container), at, r.Listed, r.Deleted, r.Fetched)
	if err != nil {
		return fmt.Errorf("record reconciliation of %s: %w", st, err)
	}
	return nil
}

// NotLive returns the ids among ids that no live row of t holds.
func (s *Store) NotLive(ctx context.Context, t *graphsync.Table, conn int64, ids []string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT x.id FROM unnest($2::text[]) AS x(id)
		WHERE NOT EXISTS (SELECT 1 FROM `+t.Name+` r WHERE r.connection_id = $1 AND r.id = x.id AND r.deleted_at IS NULL)
		ORDER BY x.id`, conn, nonNil(cleanAll(ids)))
	if err != nil {
		return nil, fmt.Errorf("find %ss not stored: %w", t.Item, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("find %ss not stored: %w", t.Item, err)
	}
	return out, nil
}

// LiveBeforeTx returns the ids of the live rows in stream st's container
// that last changed before before. Of a tree (drive items), only the
// drives of the listed ids are looked at: a user's OneDrive and the
// libraries read through the same connection share the user's rows.
func (s *Store) LiveBeforeTx(ctx context.Context, tx Tx, t *graphsync.Table, st graphsync.Stream, before time.Time, listed []string) ([]string, error) {
	b := newArgs(st.Connection, before)
	var cond string
	if t.Container != "" {
		cond = containerCond(t, st, b)
	} else {
		cond = t.UserColumn() + " = " + b.add(CleanText(st.User))
	}
	if t.Tree {
		cond += " AND coalesce(drive_id, '') IN (SELECT coalesce(drive_id, '') FROM " + t.Name +
			" WHERE connection_id = $1 AND id = ANY(" + b.add(nonNil(cleanAll(listed))) + "))"
	}
	rows, err := tx.Query(ctx, "SELECT id FROM "+t.Name+" WHERE connection_id = $1 AND deleted_at IS NULL AND synced_at < $2 AND "+
		cond, b.args...)
	if err != nil {
		return nil, fmt.Errorf("list live %ss of %s: %w", t.Item, st, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list live %ss of %s: %w", t.Item, st, err)
	}
	return out, nil
}

// BackdateReconciliations moves every stream's last reconciliation back
// by d: with d a period, each stream's next pass is due at once.
func (s *Store) BackdateReconciliations(ctx context.Context, d time.Duration) error {
	if _, err := s.pool.Exec(ctx, `UPDATE reconciliations SET reconciled_at = reconciled_at - $1::interval`, d); err != nil {
		return fmt.Errorf("backdate reconciliations: %w", err)
	}
	return nil
}

// ReconciledSince sums what the reconciliation passes begun at or after
// since found, and counts them.
func (s *Store) ReconciledSince(ctx context.Context, since time.Time) (Reconciled, int, error) {
	var r Reconciled
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*), coalesce(sum(listed), 0), coalesce(sum(deleted), 0), coalesce(sum(fetched), 0)
		FROM reconciliations WHERE reconciled_at >= $1`, since).Scan(&n, &r.Listed, &r.Deleted, &r.Fetched)
	if err != nil {
		return r, 0, fmt.Errorf("sum reconciliations: %w", err)
	}
	return r, n, nil
}
