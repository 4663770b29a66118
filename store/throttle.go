package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/graphsync/graphsync/graphsync"
)

// SetThrottle records that Graph asked for no requests to scope before until,
// keeping the later of the stored and the new time, so every worker process
// honours the window.
func (s *Store) SetThrottle(ctx context.Context, scope graphsync.Scope, until time.Time, reason string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO throttle_windows (scope, until, reason) VALUES ($1, $2, $3)
		ON CONFLICT (scope) DO UPDATE SET until = greatest(throttle_windows.until, EXCLUDED.until),
			reason = EXCLUDED.reason, updated_at = now()`, scope.String(), until, reason)
	if err != nil {
		return fmt.Errorf("record throttle window of %s: %w", scope, err)
	}
	return nil
}

// ThrottleWindows returns when each of scopes' open throttle windows ends;
// scopes without one are absent.
func (s *Store) ThrottleWindows(ctx context.Context, scopes []graphsync.Scope) (map[graphsync.Scope]time.Time, error) {
	texts := make([]string, len(scopes))
	for i, sc := range scopes {
		texts[i] = sc.String()
	}
	all, err := s.throttleWindows(ctx, "SELECT scope, until FROM throttle_windows WHERE scope = ANY($1) AND until > now()", texts)
	if err != nil {
		return nil, err
	}
	out := make(map[graphsync.Scope]time.Time, len(all))
	for _, w := range all {
		out[w.Scope] = w.Until
	}
	return out, nil
}

// ThrottleWindow is an open Retry-After window.
type ThrottleWindow struct {
	Scope  graphsync.Scope
	Until  time.Time
	Reason string
}

// OpenThrottleWindows lists every window still open, in scope order. A
// stored scope that cannot be read is an error naming it.
func (s *Store) OpenThrottleWindows(ctx context.Context) ([]ThrottleWindow, error) {
	return s.throttleWindows(ctx, "SELECT scope, until FROM throttle_windows WHERE until > now() ORDER BY scope")
}

func (s *Store) throttleWindows(ctx context.Context, query string, args ...any) ([]ThrottleWindow, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read throttle windows: %w", err)
	}
	var out []ThrottleWindow
	var text string
	var until time.Time
	_, err = pgx.ForEachRow(rows, []any{&text, &until}, func() error {
		scope, err := graphsync.ParseScope(text)
		if err != nil {
			return err
		}
		out = append(out, ThrottleWindow{Scope: scope, Until: until})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read throttle windows: %w", err)
	}
	return out, nil
}
