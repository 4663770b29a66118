package store

import (
	"context"
	"fmt"
	"time"

	"github.com/graphsync/graphsync/graphsync"
)

// QuarantineTx keeps a record that could not be stored, with the reason, so
// the sync can go on without losing it.
func (s *Store) QuarantineTx(ctx context.Context, tx Tx, st graphsync.Stream, itemID, reason string, payload []byte) error {
	_, err := tx.Exec(ctx, `INSERT INTO quarantine (connection_id, user_id, resource, stream, item_id, error, payload)
		VALUES ($1, $2, $3, $4, nullif($5, ''), $6, $7)`,
		st.Connection, CleanText(st.User), st.Resource.Name(), CleanText(st.Container), CleanText(itemID), CleanText(reason), payload)
	if err != nil {
		return fmt.Errorf("quarantine record of %s: %w", st, err)
	}
	return nil
}

// Quarantined is one quarantined record.
type Quarantined struct {
	ID           int64
	ConnectionID int64
	User         string
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
	rows, err := s.pool.Query(ctx, `SELECT id, coalesce(connection_id, 0), user_id, resource, stream, coalesce(item_id, ''), error, payload, created_at
		FROM quarantine WHERE $1 = 0 OR connection_id = $1 ORDER BY id DESC LIMIT $2`, connectionID, limit)
	if err != nil {
		return nil, fmt.Errorf("list quarantine: %w", err)
	}
	defer rows.Close()
	var out []Quarantined
	for rows.Next() {
		var q Quarantined
		if err := rows.Scan(&q.ID, &q.ConnectionID, &q.User, &q.Resource, &q.Stream, &q.ItemID, &q.Error, &q.Payload, &q.CreatedAt); err != nil {
			return nil, fmt.Errorf("list quarantine: %w", err)
		}
		out = append(out, q)
	}
	return out, rows.Err()
}

// QuarantineCount is how many records of one connection's resource are in
// quarantine.
type QuarantineCount struct {
	ConnectionID int64
	Resource     string
	N            int
}

// QuarantineCounts counts quarantined records per connection and resource
// (every connection's when connectionID is 0).
func (s *Store) QuarantineCounts(ctx context.Context, connectionID int64) ([]QuarantineCount, error) {
	rows, err := s.pool.Query(ctx, `SELECT connection_id, resource, count(*) FROM quarantine
		WHERE connection_id IS NOT NULL AND ($1 = 0 OR connection_id = $1)
		GROUP BY connection_id, resource ORDER BY connection_id, resource`, connectionID)
	if err != nil {
		return nil, fmt.Errorf("count quarantined records: %w", err)
	}
	defer rows.Close()
	var out []QuarantineCount
	for rows.Next() {
		var c QuarantineCount
		if err := rows.Scan(&c.ConnectionID, &c.Resource, &c.N); err != nil {
			return nil, fmt.Errorf("count quarantined records: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
