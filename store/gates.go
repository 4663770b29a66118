package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/graphsync/graphsync/graphsync"
)

// GateState is one throttling gate of one worker process, as published for
// status.
type GateState struct {
	Holder                      string
	Scope                       graphsync.Scope
	Rate, ConfiguredRate        float64
	Concurrency, MaxConcurrency int
	LearnedRate                 float64
	Throttles                   int64
	BlockedUntil                time.Time // zero: no window open
	PublishedAt                 time.Time
}

// Slowed reports whether Graph's answers held the gate below its
// configured rate or concurrency.
func (g GateState) Slowed() bool {
	return g.Rate < g.ConfiguredRate || g.Concurrency < g.MaxConcurrency
}

// Share is the part of its configured rate the gate allowed; 1 for a gate
// without a rate.
func (g GateState) Share() float64 {
	if g.ConfiguredRate == 0 {
		return 1
	}
	return g.Rate / g.ConfiguredRate
}

const insertGates = `
INSERT INTO gate_states (holder, scope, rate, configured_rate, concurrency, max_concurrency, learned_rate, throttles,
	blocked_until, published_at, expires_at)
SELECT $1, s.scope, s.rate, s.configured_rate, s.concurrency, s.max_concurrency, s.learned_rate, s.throttles,
	s.blocked_until, now(), now() + $2::interval
FROM unnest($3::text[], $4::float8[], $5::float8[], $6::int[], $7::int[], $8::float8[], $9::bigint[], $10::timestamptz[])
	AS s (scope, rate, configured_rate, concurrency, max_concurrency, learned_rate, throttles, blocked_until)`

// PublishGates replaces holder's (one process's) gate snapshot with
// states, to lapse after ttl unless replaced again, and deletes the
// snapshots that lapsed.
func (s *Store) PublishGates(ctx context.Context, holder string, states []GateState, ttl time.Duration) error {
	if holder == "" || ttl <= 0 {
		return fmt.Errorf("publish gates: holder %q and ttl %s must be set", holder, ttl)
	}
	n := len(states)
	scopes, rates, configured := make([]string, n), make([]float64, n), make([]float64, n)
	conc, maxConc, learned := make([]int32, n), make([]int32, n), make([]float64, n)
	throttles, blocked := make([]int64, n), make([]*time.Time, n)
	for i, g := range states {
		scopes[i], rates[i], configured[i] = g.Scope.String(), g.Rate, g.ConfiguredRate
		conc[i], maxConc[i], learned[i], throttles[i] = int32(g.Concurrency), int32(g.MaxConcurrency), g.LearnedRate, g.Throttles
		if !g.BlockedUntil.IsZero() {
			blocked[i] = &g.BlockedUntil
		}
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM gate_states WHERE holder = $1`, holder); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, insertGates, holder, ttl, scopes, rates, configured, conc, maxConc, learned, throttles, blocked)
		return err
	})
	if err != nil {
		return fmt.Errorf("publish %d gates of %s: %w", n, holder, err)
	}
	// Other processes' snapshots that lapsed: they stopped.
	if _, err := s.pool.Exec(ctx, `DELETE FROM gate_states WHERE expires_at < now()`); err != nil {
		return fmt.Errorf("delete lapsed gate snapshots: %w", err)
	}
	return nil
}

// GateStates lists every process's published gates that have not lapsed,
// by scope then process.
func (s *Store) GateStates(ctx context.Context) ([]GateState, error) {
	rows, err := s.pool.Query(ctx, `SELECT holder, scope, rate, configured_rate, concurrency, max_concurrency, learned_rate,
			throttles, blocked_until, published_at
		FROM gate_states WHERE expires_at > now() ORDER BY scope, holder`)
	if err != nil {
		return nil, fmt.Errorf("read gate states: %w", err)
	}
	var out []GateState
	var g GateState
	var scope string
	var blocked *time.Time
	_, err = pgx.ForEachRow(rows, []any{&g.Holder, &scope, &g.Rate, &g.ConfiguredRate, &g.Concurrency, &g.MaxConcurrency,
		&g.LearnedRate, &g.Throttles, &blocked, &g.PublishedAt}, func() error {
		sc, err := graphsync.ParseScope(scope)
		if err != nil {
			return fmt.Errorf("gate of %s: %w", g.Holder, err)
		}
		g.Scope, g.BlockedUntil = sc, time.Time{}
		if blocked != nil {
			g.BlockedUntil = *blocked
		}
		out = append(out, g)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read gate states: %w", err)
	}
	return out, nil
}
