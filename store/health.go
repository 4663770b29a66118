package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/graphsync/graphsync/graphsync"
)

// Health is what the database says about the fleet as a whole, for the
// gauges the worker exports. Every worker process computes the same values.
type Health struct {
	// Connections counts connections by status.
	Connections map[string]int64
	// Lag is, per resource, the age of the oldest last successful sync among
	// active connections that sync it (tenant-level resources and user
	// discovery included); a resource never synced counts from the
	// connection's creation.
	Lag map[string]time.Duration
	// Jobs counts River jobs not yet finished, by queue and state.
	Jobs []JobCount
	// Quarantined counts quarantined records by resource.
	Quarantined map[string]int64
	// Subscriptions counts change-notification subscriptions by status.
	Subscriptions map[string]int64
	// SubscriptionExpiry is, per resource, the time left until the
	// soonest-expiring active subscription ends (renewal is due at half its
	// lifetime, so a short one means renewals are failing).
	SubscriptionExpiry map[string]time.Duration
	// BudgetFill is, per service (teams, onedrive), the fill (0 to 1) of
	// the emptiest tenant budget: near 0, some tenant's requests wait on
	// their budget.
	BudgetFill map[string]float64
}

// JobCount is the number of River jobs of one queue in one state.
type JobCount struct {
	Queue, State string
	N            int64
}

// ReadHealth reads Health; resources limits the lag to resources this
// process knows how to sync.
func (s *Store) ReadHealth(ctx context.Context, resources []string) (*Health, error) {
	h := &Health{Connections: map[string]int64{}, Lag: map[string]time.Duration{}, Quarantined: map[string]int64{},
		Subscriptions: map[string]int64{}, SubscriptionExpiry: map[string]time.Duration{}, BudgetFill: map[string]float64{}}
	queries := []struct {
		what, sql string
		args      []any
		scan      func(pgx.Rows) error
	}{
		{"connections", `SELECT status, count(*) FROM connections GROUP BY status`, nil, func(rows pgx.Rows) error {
			var status string
			var n int64
			err := rows.Scan(&status, &n)
			h.Connections[status] = n
			return err
		}},
		// One definition of lag for the gauge and `graphsync status`: see
		// resourceLagSQL.
		{"lag", `WITH ` + resourceLagSQL + `
			SELECT resource, extract(epoch FROM now() - min(since))::float8 FROM lag GROUP BY resource`,
			lagArgs(resources, 0), func(rows pgx.Rows) error {
				var resource string
				var secs float64
				err := rows.Scan(&resource, &secs)
				h.Lag[resource] = time.Duration(secs * float64(time.Second))
				return err
			}},
		// Finished jobs are left for River's cleaner; only the backlog counts.
		{"river jobs", `SELECT queue, state::text, count(*) FROM river_job
			WHERE state IN ('available', 'pending', 'retryable', 'running', 'scheduled')
			GROUP BY queue, state`, nil, func(rows pgx.Rows) error {
			var jc JobCount
			err := rows.Scan(&jc.Queue, &jc.State, &jc.N)
			h.Jobs = append(h.Jobs, jc)
			return err
		}},
		{"quarantine", `SELECT resource, count(*) FROM quarantine GROUP BY resource`, nil, func(rows pgx.Rows) error {
			var resource string
			var n int64
			err := rows.Scan(&resource, &n)
			h.Quarantined[resource] = n
			return err
		}},
		{"subscriptions", `SELECT status, count(*) FROM subscriptions GROUP BY status`, nil, func(rows pgx.Rows) error {
			var status string
			var n int64
			err := rows.Scan(&status, &n)
			h.Subscriptions[status] = n
			return err
		}},
		{"subscription expiry", `SELECT resource, extract(epoch FROM min(expires_at) - now())::float8 FROM subscriptions
			WHERE status = 'active' AND expires_at IS NOT NULL GROUP BY resource`, nil, func(rows pgx.Rows) error {
			var resource string
			var secs float64
			err := rows.Scan(&resource, &secs)
			h.SubscriptionExpiry[resource] = time.Duration(secs * float64(time.Second))
			return err
		}},
		{"tenant budgets", `SELECT split_part(scope, '/', 2), min(` + budgetTokensSQL + ` / burst) FROM tenant_budgets GROUP BY 1`, nil,
			func(rows pgx.Rows) error {
				var service string
				var fill float64
				err := rows.Scan(&service, &fill)
				h.BudgetFill[service] = fill
				return err
			}},
	}
	for _, q := range queries {
		rows, err := s.pool.Query(ctx, q.sql, q.args...)
		if err != nil {
			return nil, fmt.Errorf("read health: %s: %w", q.what, err)
		}
		for rows.Next() && err == nil {
			err = q.scan(rows)
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
		if err != nil {
			return nil, fmt.Errorf("read health: %s: %w", q.what, err)
		}
	}
	return h, nil
}

// resourceLagSQL defines the CTE lag: per active connection and enabled
// resource ($1 limits the resources, $2 the connection unless 0), since
// when it is behind; lagArgs gives its arguments. A resource's lag is its
// top-level stream's, per user: the time since the resource last synced as
// a whole (for an application connection, its least recently synced user;
// for its tenant-level streams, with no user, user discovery and the
// tenant-level resources enabled on it, that stream's); a resource never
// synced counts from the connection's creation. A stream whose scope is missing
// never succeeds; it is reported by its status, not as lag that would page
// someone every interval. Neither counts a user who left the tenant.
var resourceLagSQL = `wanted AS (
		SELECT c.id, r.resource, c.user_id, c.created_at FROM connections c
		CROSS JOIN LATERAL unnest(c.resources) AS r(resource)
		WHERE c.status = 'active' AND c.kind = 'delegated' AND ($2::bigint = 0 OR c.id = $2) AND r.resource <> ALL($3)
		UNION ALL
		SELECT c.id, t.resource, '', c.created_at FROM connections c
		CROSS JOIN unnest($3::text[]) AS t(resource)
		WHERE c.status = 'active' AND c.kind = 'application' AND ($2::bigint = 0 OR c.id = $2)
			AND (t.resource = $4 OR t.resource = ANY(c.resources))
		UNION ALL
		SELECT c.id, r.resource, u.id, c.created_at FROM connections c
		JOIN ` + usersTable + ` u ON u.connection_id = c.id AND u.deleted_at IS NULL
		CROSS JOIN LATERAL unnest(c.resources) AS r(resource)
		WHERE c.status = 'active' AND c.kind = 'application' AND ($2::bigint = 0 OR c.id = $2) AND r.resource <> ALL($3)
	), lag AS (
		SELECT w.id, w.resource, min(coalesce(s.last_success_at, w.created_at)) AS since,
			bool_or(s.last_success_at IS NULL) AS never
		FROM wanted w
		LEFT JOIN sync_state s ON s.connection_id = w.id AND s.user_id = w.user_id AND s.resource = w.resource AND s.stream = ''
		WHERE w.resource = ANY($1) AND coalesce(s.status, 'ok') NOT IN ('missing_scope', 'stopped')
		GROUP BY w.id, w.resource
	)`

var usersTable = graphsync.Users.Items().Name

// lagArgs are resourceLagSQL's arguments: the resources counted, the
// connection (0 for every one), the tenant-level resources (which an
// application connection reads once, with no user) and user discovery.
func lagArgs(resources []string, connectionID int64) []any {
	return []any{resources, connectionID, graphsync.Names(graphsync.Tenant(graphsync.All())), graphsync.Users.Name()}
}

// ResourceLag is how far behind one resource of one connection is.
type ResourceLag struct {
	ConnectionID int64
	Resource     string
	// LastSuccess is when the resource last synced as a whole (for an
	// application connection, its least recently synced user); nil when
	// it never did.
	LastSuccess *time.Time
	// Lag is the time since LastSuccess, or since the connection was
	// created when the resource never synced.
	Lag time.Duration
}

// ResourceLags lists, per active connection (one when connectionID is not
// 0) and enabled resource whose permission is granted (tenant-level ones
// and an application connection's user discovery included), how far
// behind it is: the lag graphsync_sync_lag_seconds reports the worst of.
func (s *Store) ResourceLags(ctx context.Context, connectionID int64) ([]ResourceLag, error) {
	rows, err := s.pool.Query(ctx, `WITH `+resourceLagSQL+`
		SELECT id, resource, CASE WHEN never THEN NULL ELSE since END, extract(epoch FROM now() - since)::float8
		FROM lag ORDER BY id, resource`, lagArgs(graphsync.Names(graphsync.All()), connectionID)...)
	if err != nil {
		return nil, fmt.Errorf("read lag: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ResourceLag, error) {
		var l ResourceLag
		var secs float64
		err := row.Scan(&l.ConnectionID, &l.Resource, &l.LastSuccess, &secs)
		l.Lag = time.Duration(secs * float64(time.Second))
		return l, err
	})
	if err != nil {
		return nil, fmt.Errorf("read lag: %w", err)
	}
	return out, nil
}

// Written is what sync_state says has been written for one resource.
type Written struct {
	Pages, Upserted, Deleted int64
}

// WrittenByResource sums the streams' counters per resource (one
// connection's when connectionID is not 0): sync progress as it commits.
func (s *Store) WrittenByResource(ctx context.Context, connectionID int64) (map[string]Written, error) {
	rows, err := s.pool.Query(ctx, `SELECT resource, sum(pages), sum(upserted), sum(deleted) FROM sync_state
		WHERE $1 = 0 OR connection_id = $1 GROUP BY resource`, connectionID)
	if err != nil {
		return nil, fmt.Errorf("read sync progress: %w", err)
	}
	out := map[string]Written{}
	var r string
	var w Written
	_, err = pgx.ForEachRow(rows, []any{&r, &w.Pages, &w.Upserted, &w.Deleted}, func() error {
		out[r] = w
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read sync progress: %w", err)
	}
	return out, nil
}

// RowCounts counts a synced table's live and retired rows, every
// connection's.
func (s *Store) RowCounts(ctx context.Context, t *graphsync.Table) (live, deleted int64, err error) {
	q := "SELECT count(*) FILTER (WHERE deleted_at IS NULL), count(*) FILTER (WHERE deleted_at IS NOT NULL) FROM " + t.Name
	if t.Map == nil { // a child table: its rows live and die with their parent's
		q = "SELECT count(*), 0 FROM " + t.Name
	}
	if err := s.pool.QueryRow(ctx, q).Scan(&live, &deleted); err != nil {
		return 0, 0, fmt.Errorf("count %s: %w", t.Name, err)
	}
	return live, deleted, nil
}
