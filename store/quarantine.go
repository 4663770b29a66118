package store

import (
	"context"
	"fmt"
	"time"
)

// QuarantineTx keeps a record that could not be stored, with the reason, so
// the sync can go on without losing it.
func (s *Store) QuarantineTx(ctx context.Context, q Querier, st Stream, itemID, reason string, payload []byte) error {
	_, err := q.Exec(ctx, `INSERT INTO quarantine (connection_id, resource, stream, item_id, error, payload)
		VALUES ($1, $2, $3, nullif($4, ''), $5, $6)`,
		st.ConnectionID, st.Resource, st.Name, CleanText(itemID), CleanText(reason), payload)
	if err != nil {
		return fmt.Errorf("quarantine record of %s: %w", st, err)
	}
	return nil
}

// Quarantined is one quarantined record.
type Quarantined struct {
	ID           int64
	ConnectionID int64
	Resource     string
	Stream       string
	ItemID       string
	Error        string
	Payload      []byte
	CreatedAt    time.Time
}

// QuarantinedRecords lists the quarantine, newest first (every connection's
// when connectionID is 0).
func (s *Store) QuarantinedRecords(ctx context.Context, connectionID int64, limit int) ([]Quarantined, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, coalesce(connection_id, 0), resource, stream, coalesce(item_id, ''), error, payload, created_at
		FROM quarantine WHERE $1 = 0 OR connection_id = $1 ORDER BY id DESC LIMIT $2`, connectionID, limit)
	if err != nil {
		return nil, fmt.Errorf("list quarantine: %w", err)
	}
	defer rows.Close()
	var out []Quarantined
	for rows.Next() {
		var q Quarantined
		if err := rows.Scan(&q.ID, &q.ConnectionID, &q.Resource, &q.Stream, &q.ItemID, &q.Error, &q.Payload, &q.CreatedAt); err != nil {
			return nil, fmt.Errorf("list quarantine: %w", err)
		}
		out = append(out, q)
	}
	return out, rows.Err()
}
