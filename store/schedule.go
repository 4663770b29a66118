package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Due is a connection's resource whose last successful sync is older than
// the sync interval (or that never synced).
type Due struct {
	ConnectionID int64
	Resource     string
}

// DueSyncs lists the active connections' resources due for a sync.
func (s *Store) DueSyncs(ctx context.Context, interval time.Duration) ([]Due, error) {
	rows, err := s.pool.Query(ctx, `SELECT c.id, r.resource
		FROM connections c CROSS JOIN LATERAL unnest(c.resources) AS r(resource)
		LEFT JOIN sync_state s ON s.connection_id = c.id AND s.resource = r.resource AND s.stream = ''
		WHERE c.status = 'active' AND (s.last_success_at IS NULL OR s.last_success_at < now() - $1::interval)
		ORDER BY c.id, r.resource`, interval)
	if err != nil {
		return nil, fmt.Errorf("list due syncs: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Due, error) {
		var d Due
		return d, row.Scan(&d.ConnectionID, &d.Resource)
	})
	if err != nil {
		return nil, fmt.Errorf("list due syncs: %w", err)
	}
	return out, nil
}

// DueRefresh is a connection whose access token must be refreshed at At.
type DueRefresh struct {
	ConnectionID int64
	At           time.Time
}

// DueRefreshes lists active connections whose access token expires before
// the given time (or that have none).
func (s *Store) DueRefreshes(ctx context.Context, before time.Time) ([]DueRefresh, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, coalesce(access_token_expires_at, now()) FROM connections
		WHERE status = 'active' AND (access_token_expires_at IS NULL OR access_token_expires_at < $1) ORDER BY id`, before)
	if err != nil {
		return nil, fmt.Errorf("list due refreshes: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (DueRefresh, error) {
		var d DueRefresh
		return d, row.Scan(&d.ConnectionID, &d.At)
	})
	if err != nil {
		return nil, fmt.Errorf("list due refreshes: %w", err)
	}
	return out, nil
}
