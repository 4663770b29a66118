// Package store is graphsync's PostgreSQL layer: migrations, connections with
// their tokens encrypted at rest, per-stream sync state, and the synced tables.
// It is the only package that imports pgx.
package store
