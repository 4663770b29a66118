package store

import (
	"context"
	"fmt"

	"github.com/graphsync/graphsync/graphsync"
)

// retireWindowTx retires the selected live rows of a windowed table
// (graphsync.Table.Window) as no longer in view: left_window when their
// stored time lies outside w, deleted otherwise. The children of deleted
// rows go with them; a row that only left the window keeps its last known
// state and children. where selects rows by further arguments, from $4.
func retireWindowTx(ctx context.Context, tx Tx, t *graphsync.Table, conn int64, w graphsync.Window, where string, more ...any) (Removed, error) {
	children := ""
	if t.Child != nil {
		children = `, children AS (
	DELETE FROM ` + t.Child.Name + ` a USING gone
	WHERE a.connection_id = $1 AND a.` + t.Child.KeyColumns()[0] + ` = gone.id AND gone.removed_reason = 'deleted'
)`
	}
	sql := `WITH gone AS (
	UPDATE ` + t.Name + ` SET deleted_at = now(), synced_at = now(),
		removed_reason = CASE WHEN start_at >= $3 OR end_at <= $2 THEN 'left_window' ELSE 'deleted' END
	WHERE connection_id = $1 AND deleted_at IS NULL AND ` + where + `
	RETURNING id, removed_reason
)` + children + `
SELECT count(*) FILTER (WHERE removed_reason = 'deleted'), count(*) FILTER (WHERE removed_reason = 'left_window') FROM gone`
	var r Removed
	if err := tx.QueryRow(ctx, sql, append([]any{conn, w.Start, w.End}, more...)...).Scan(&r.Deleted, &r.Left); err != nil {
		return Removed{}, fmt.Errorf("retire %s: %w", t.Name, err)
	}
	return r, nil
}
