package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/graphsync/graphsync/graphsync"
)

// takeBudget refills the bucket from the database clock, then grants want
// tokens, fewer if fewer are there, none if fewer than need are there, and
// records the holder's lease. clock_timestamp(), not now(): a statement that
// waited on the row lock must not refill from the time it started waiting.
var takeBudget = `
WITH cur AS (
	SELECT scope, ` + budgetTokensSQL + ` AS avail FROM tenant_budgets WHERE scope = $1 FOR UPDATE
), grant_ AS (
	SELECT scope, avail, CASE WHEN avail >= $5 THEN least($6::float8, floor(avail)) ELSE 0 END AS n FROM cur
), took AS (
	UPDATE tenant_budgets b SET tokens = g.avail - g.n, rate = $3, burst = $4, updated_at = clock_timestamp()
	FROM grant_ g WHERE b.scope = g.scope
	RETURNING g.n, b.tokens
), lease AS (
	INSERT INTO budget_leases AS l (scope, holder, tokens, taken, expires_at)
	SELECT $1, $2, n, n, clock_timestamp() + $7::interval FROM took WHERE n > 0
	ON CONFLICT (scope, holder) DO UPDATE SET tokens = EXCLUDED.tokens, taken = l.taken + EXCLUDED.taken,
		expires_at = EXCLUDED.expires_at
), gone AS (
	-- Leases of processes that stopped taking an hour ago are forgotten.
	DELETE FROM budget_leases WHERE scope = $1 AND holder <> $2 AND expires_at < clock_timestamp() - interval '1 hour'
)
SELECT n, tokens FROM took`

// TakeBudget takes a slice of scope's shared bucket for holder (one
// process): want tokens, or as many whole tokens as the bucket holds, or
// none when it holds fewer than need. The bucket refills at rate tokens per
// second up to burst; the first take creates it full. left is what stays in
// the bucket, from which the caller works out how long to wait for need.
// The holder must spend the slice within lease: the lease row shows what
// each process took, for status.
func (s *Store) TakeBudget(ctx context.Context, scope graphsync.Scope, holder string, rate, burst, need, want float64, lease time.Duration) (granted, left float64, err error) {
	if rate <= 0 || burst <= 0 {
		return 0, 0, fmt.Errorf("take budget of %s: rate %g and burst %g must be positive", scope, rate, burst)
	}
	for range 2 {
		err = s.pool.QueryRow(ctx, takeBudget, scope.String(), holder, rate, burst, need, want, lease).Scan(&granted, &left)
		if !errors.Is(err, pgx.ErrNoRows) {
			break
		}
		// No bucket yet: create it full, then take from it.
		if _, err = s.pool.Exec(ctx, `INSERT INTO tenant_budgets (scope, tokens, rate, burst, updated_at)
			VALUES ($1, $3, $2, $3, clock_timestamp()) ON CONFLICT (scope) DO NOTHING`, scope.String(), rate, burst); err != nil {
			break
		}
	}
	if err != nil {
		return 0, 0, fmt.Errorf("take budget of %s: %w", scope, err)
	}
	return granted, left, nil
}

// budgetTokensSQL is what a tenant_budgets row holds now: its tokens
// refilled since updated_at, up to its burst.
const budgetTokensSQL = `least(burst, tokens + rate * greatest(0, extract(epoch FROM clock_timestamp() - updated_at)))`

// Budget is a tenant budget's bucket as status shows it.
type Budget struct {
	Scope graphsync.Scope
	// Tokens is what the bucket holds now, Burst the most it holds, Rate
	// what it gains per second.
	Tokens, Burst, Rate float64
	// Holders counts the processes holding a lease that has not lapsed.
	Holders int
	// Taken is what every process has taken since the bucket was created.
	Taken float64
}

// Budgets lists every tenant budget, in scope order, filled up to now.
func (s *Store) Budgets(ctx context.Context) ([]Budget, error) {
	rows, err := s.pool.Query(ctx, `SELECT b.scope, b.now, b.burst, b.rate,
			count(l.holder) FILTER (WHERE l.expires_at > clock_timestamp()), coalesce(sum(l.taken), 0)
		FROM (SELECT scope, `+budgetTokensSQL+` AS now, burst, rate FROM tenant_budgets) b
		LEFT JOIN budget_leases l ON l.scope = b.scope
		GROUP BY b.scope, b.now, b.burst, b.rate ORDER BY b.scope`)
	if err != nil {
		return nil, fmt.Errorf("read tenant budgets: %w", err)
	}
	var out []Budget
	var b Budget
	var text string
	_, err = pgx.ForEachRow(rows, []any{&text, &b.Tokens, &b.Burst, &b.Rate, &b.Holders, &b.Taken}, func() error {
		scope, err := graphsync.ParseScope(text)
		if err != nil {
			return err
		}
		b.Scope = scope
		out = append(out, b)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read tenant budgets: %w", err)
	}
	return out, nil
}
