package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Due is a connection's resource whose last successful sync is older than
// the sync interval (or that never synced). For an application connection
// it names one user of the tenant, or is the user discovery itself
// (Resource DirectoryResource, no user).
type Due struct {
	ConnectionID int64
	Resource     string
	UserID       string
}

// DirectoryResource is the pseudo-resource of an application connection's
// user discovery (users/delta); it is not one of the connection's resources.
const DirectoryResource = "users"

// DueSyncs lists the active connections' resources due for a sync; when
// connectionID is not 0, only that connection's. A stream that failed is
// not due again before an interval has passed: River retries the failed
// job itself.
func (s *Store) DueSyncs(ctx context.Context, interval time.Duration, connectionID int64) ([]Due, error) {
	rows, err := s.pool.Query(ctx, `WITH conns AS (
			SELECT * FROM connections WHERE status = 'active' AND ($2 = 0 OR id = $2)
		), wanted AS (
			SELECT c.id, r.resource, '' AS user_id, '' AS stream
			FROM conns c CROSS JOIN LATERAL unnest(c.resources) AS r(resource) WHERE c.kind = 'delegated'
			UNION ALL
			SELECT c.id, $3, '', '' FROM conns c WHERE c.kind = 'application'
			UNION ALL
			SELECT c.id, r.resource, u.id, u.id || '/'
			FROM conns c JOIN directory_users u ON u.connection_id = c.id AND u.deleted_at IS NULL
			CROSS JOIN LATERAL unnest(c.resources) AS r(resource) WHERE c.kind = 'application'
		)
		SELECT w.id, w.resource, w.user_id FROM wanted w
		LEFT JOIN sync_state s ON s.connection_id = w.id AND s.resource = w.resource AND s.stream = w.stream
		WHERE (s.last_success_at IS NULL OR s.last_success_at < now() - $1::interval)
			AND coalesce(s.status, 'ok') <> 'stopped'
			AND NOT coalesce(s.status = 'error' AND s.last_attempt_at > now() - $1::interval, false)
		ORDER BY w.id, w.resource, w.user_id`, interval, connectionID, DirectoryResource)
	if err != nil {
		return nil, fmt.Errorf("list due syncs: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Due, error) {
		var d Due
		return d, row.Scan(&d.ConnectionID, &d.Resource, &d.UserID)
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
