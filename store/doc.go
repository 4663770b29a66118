// Package store is graphsync's PostgreSQL layer and the only place its SQL
// lives: migrations, connections with their tokens encrypted at rest, each
// stream's checkpoint, Retry-After windows shared by every process, the
// quarantine, and the synced tables.
//
// The synced tables are written generically from their descriptions
// (graphsync.Table): UpsertTx, RemoveTx, RetireUnseenTx, RetireMissingTx
// and RawsTx work for any table, and the behaviours a table declares
// (containers, cascades, child rows, trees, windows, user discovery) are
// implemented once, here. Every change they make is logged in the change
// feed by triggers in the same transaction (migration 014); ReadChanges,
// PinChanges, PruneChanges and ListenChanges read, bound and follow it, and
// the webhook endpoints it is delivered to are kept here too.
//
// Methods ending in Tx take a transaction (Tx, from InTx) and run in it, so
// that a page's rows and its checkpoint commit together; the others run on
// their own.
//
// Who else may touch PostgreSQL, and why:
//   - River, through RiverDriver, on the store's pool: its jobs are inserted
//     in the store's transactions (Tx is pgx's for that reason).
//   - The store reads river_job only to count the backlog per queue and
//     state for metrics (ReadHealth), which River's API does not offer.
//   - jobs completes a webhook delivery job in a store transaction
//     (river.JobCompleteTx, typed with River's pgx driver), so that the
//     job's completion and the endpoint's row lock commit together; it
//     runs no SQL of its own.
//   - Test helpers and harnesses import pgx to create databases and to check
//     what the store wrote: internal/pglocal and internal/pgtest (throwaway
//     clusters and databases), internal/verify (the ground-truth checks,
//     given a pool by the demo, the chaos harness and the tests),
//     internal/demo, internal/chaos, internal/bench and internal/schemadoc.
package store
