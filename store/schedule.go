package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/graphsync/graphsync/graphsync"
)

// DueSync is a top-level stream and when it is due: its interval after
// its last success (or, after a failure, after its last attempt), or now
// when it never synced.
type DueSync struct {
	graphsync.Stream
	At time.Time
}

// DueSyncs lists the top-level streams of active connections due within
// the next `within` (already due included), with when each is due: its
// last successful sync plus interval, or now when it never synced; when
// connectionID is not 0, only that connection's. For an application
// connection they are its users' resources and its tenant-level streams
// (no user): user discovery always, and each tenant-level resource
// enabled on it; for a delegated one, its resources and the shareable
// resources of its shared mailboxes. A
// stream with an active change-notification subscription is due after
// subscribed instead, when that is longer: Graph tells of its changes, and
// polling is the safety net. A stream that failed is not due again before
// an interval has passed since its last attempt: River retries the failed
// job itself.
func (s *Store) DueSyncs(ctx context.Context, interval, subscribed, within time.Duration, connectionID int64) ([]DueSync, error) {
	subscribed = max(subscribed, interval)
	rows, err := s.pool.Query(ctx, `WITH conns AS (
			SELECT * FROM connections WHERE status = 'active' AND ($2 = 0 OR id = $2)
		), wanted AS (
			SELECT c.id, r.resource, c.user_id
			FROM conns c CROSS JOIN LATERAL unnest(c.resources) AS r(resource)
			WHERE c.kind = 'delegated' AND r.resource <> ALL($8)
			UNION ALL
			SELECT c.id, t.resource, ''
			FROM conns c CROSS JOIN unnest($8::text[]) AS t(resource)
			WHERE c.kind = 'application' AND (t.resource = $3 OR t.resource = ANY(c.resources))
			UNION ALL
			SELECT c.id, r.resource, u.id
			FROM conns c JOIN `+graphsync.Users.Items().Name+` u ON u.connection_id = c.id AND u.deleted_at IS NULL
			CROSS JOIN LATERAL unnest(c.resources) AS r(resource) WHERE c.kind = 'application' AND r.resource <> ALL($8)
			UNION ALL
			SELECT c.id, r.resource, m.user_id
			FROM conns c JOIN connection_mailboxes m ON m.connection_id = c.id
			CROSS JOIN LATERAL unnest(c.resources) AS r(resource) WHERE c.kind = 'delegated' AND r.resource = ANY($7)
		), due AS (
			SELECT w.id, w.resource, w.user_id, greatest(
				s.last_success_at + CASE WHEN sub.id IS NULL THEN $1::interval ELSE $6::interval END,
				CASE WHEN s.status = 'error' THEN s.last_attempt_at + $1::interval END) AS at
			FROM wanted w
			LEFT JOIN sync_state s ON s.connection_id = w.id AND s.user_id = w.user_id AND s.resource = w.resource AND s.stream = ''
			LEFT JOIN subscriptions sub ON sub.connection_id = w.id AND sub.user_id = w.user_id AND sub.resource = w.resource
				AND sub.status = 'active' AND sub.expires_at > now()
			WHERE w.resource = ANY($4) AND coalesce(s.status, 'ok') <> 'stopped'
		)
		SELECT id, resource, user_id, coalesce(at, now()) FROM due
		WHERE at IS NULL OR at < now() + $5::interval
		ORDER BY id, user_id, resource`,
		interval, connectionID, graphsync.Users.Name(), graphsync.Names(graphsync.All()), within, subscribed,
		graphsync.Names(graphsync.Shareable(graphsync.Resources)), graphsync.Names(graphsync.Tenant(graphsync.All())))
	if err != nil {
		return nil, fmt.Errorf("list due syncs: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (DueSync, error) {
		var d DueSync
		var resource string
		if err := row.Scan(&d.Connection, &resource, &d.User, &d.At); err != nil {
			return d, err
		}
		var err error
		d.Resource, err = graphsync.ParseResource(resource)
		return d, err
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
