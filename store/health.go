package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Health is what the database says about the fleet as a whole, for the
// gauges the worker exports. Every worker process computes the same values.
type Health struct {
	// Connections counts connections by status.
	Connections map[string]int64
	// Lag is, per resource, the age of the oldest last successful sync among
	// active connections that sync it; a resource never synced counts from
	// the connection's creation.
	Lag map[string]time.Duration
	// Jobs counts River jobs not yet finished, by queue and state.
	Jobs []JobCount
	// Quarantined counts quarantined records by resource.
	Quarantined map[string]int64
}

// JobCount is the number of River jobs of one queue in one state.
type JobCount struct {
	Queue, State string
	N            int64
}

// ReadHealth reads Health; resources limits the lag to resources this
// process knows how to sync.
func (s *Store) ReadHealth(ctx context.Context, resources []string) (*Health, error) {
	h := &Health{Connections: map[string]int64{}, Lag: map[string]time.Duration{}, Quarantined: map[string]int64{}}
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
		// A stream whose scope is missing never succeeds; it is reported by
		// its status, not as lag that would page someone every interval.
		{"lag", `SELECT r.resource, extract(epoch FROM now() - min(coalesce(s.last_success_at, c.created_at)))::float8
			FROM connections c
			CROSS JOIN LATERAL unnest(c.resources) AS r(resource)
			LEFT JOIN sync_state s ON s.connection_id = c.id AND s.resource = r.resource AND s.stream = ''
			WHERE c.status = 'active' AND r.resource = ANY($1) AND coalesce(s.status, 'ok') <> 'missing_scope'
			GROUP BY r.resource`, []any{resources}, func(rows pgx.Rows) error {
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
