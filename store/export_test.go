package store

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"
)

// MigrateWith applies an explicit migration list, for tests of failure handling.
func MigrateWith(ctx context.Context, pool *pgxpool.Pool, all []Migration) (*MigrateResult, error) {
	return migrate(ctx, pool, all, nil)
}
