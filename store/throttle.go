package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// SetThrottle records that Graph asked for no requests to scope before until,
// keeping the later of the stored and the new time, so every worker process
// honours the window.
func (s *Store) SetThrottle(ctx context.Context, scope string, until time.Time, reason string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO throttle_windows (scope, until, reason) VALUES ($1, $2, $3)
		ON CONFLICT (scope) DO UPDATE SET until = greatest(throttle_windows.until, EXCLUDED.until),
			reason = EXCLUDED.reason, updated_at = now()`, scope, until, reason)
	if err != nil {
		return fmt.Errorf("record throttle window of %s: %w", scope, err)
	}
	return nil
}

// ThrottleWindows returns when each of scopes' throttle windows ends;
// scopes without one are absent.
func (s *Store) ThrottleWindows(ctx context.Context, scopes []string) (map[string]time.Time, error) {
	rows, err := s.pool.Query(ctx, "SELECT scope, until FROM throttle_windows WHERE scope = ANY($1) AND until > now()", nonNil(scopes))
	if err != nil {
		return nil, fmt.Errorf("read throttle windows: %w", err)
	}
	out := map[string]time.Time{}
	var scope string
	var until time.Time
	_, err = pgx.ForEachRow(rows, []any{&scope, &until}, func() error {
		out[scope] = until
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read throttle windows: %w", err)
	}
	return out, nil
}
