package store

import (
	"context"
	"errors"
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

// ThrottledUntil returns when scope's throttle window ends (zero if none).
func (s *Store) ThrottledUntil(ctx context.Context, scope string) (time.Time, error) {
	var until time.Time
	err := s.pool.QueryRow(ctx, "SELECT until FROM throttle_windows WHERE scope = $1", scope).Scan(&until)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("read throttle window of %s: %w", scope, err)
	}
	return until, nil
}
