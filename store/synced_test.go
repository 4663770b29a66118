package store_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

// What the tests of the synced tables share.

// inTx runs fn in one transaction, as a page is applied, fails the test on
// error, and returns fn's result.
func inTx[T any](t testing.TB, s *store.Store, fn func(ctx context.Context, tx store.Tx) (T, error)) T {
	t.Helper()
	ctx := context.Background()
	var v T
	if err := s.InTx(ctx, func(tx store.Tx) (err error) {
		v, err = fn(ctx, tx)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return v
}

// upsert writes rows of table for a connection in one transaction and
// returns how many changed.
func upsert(t testing.TB, s *store.Store, table *graphsync.Table, conn int64, rows []graphsync.Row, seen *time.Time) int64 {
	t.Helper()
	return inTx(t, s, func(ctx context.Context, tx store.Tx) (int64, error) {
		return s.UpsertTx(ctx, tx, table, conn, rows, seen)
	})
}

// remove retires the rows Graph reported removed in a stream.
func remove(t testing.TB, s *store.Store, table *graphsync.Table, st graphsync.Stream, w graphsync.Window, ids ...string) store.Removed {
	t.Helper()
	return inTx(t, s, func(ctx context.Context, tx store.Tx) (store.Removed, error) {
		return s.RemoveTx(ctx, tx, table, st, ids, w)
	})
}

// retireUnseen retires the rows of a stream a full round begun at since
// did not see.
func retireUnseen(t testing.TB, s *store.Store, table *graphsync.Table, st graphsync.Stream, since time.Time, w graphsync.Window) store.Removed {
	t.Helper()
	return inTx(t, s, func(ctx context.Context, tx store.Tx) (store.Removed, error) {
		return s.RetireUnseenTx(ctx, tx, table, st, since, w)
	})
}

// stream names a stream of a connection.
func stream(c *store.Connection, r *graphsync.Resource, user, container string) graphsync.Stream {
	return graphsync.Stream{Connection: c.ID, User: user, Resource: r, Container: container}
}

// item maps a Graph item, given as a JSON object's members, with the
// table's own mapping, as the sync engine does.
func item(t testing.TB, table *graphsync.Table, mc graphsync.MapContext, members map[string]any) graphsync.Row {
	t.Helper()
	raw, err := json.Marshal(members)
	if err != nil {
		t.Fatal(err)
	}
	row, err := table.Map(raw, mc)
	if err != nil {
		t.Fatalf("map %s %s: %v", table.Item, raw, err)
	}
	return row
}

// rowOf builds a row of table from values by column name, the others
// empty: for tests that need values no Graph item would map to.
func rowOf(table *graphsync.Table, values map[string]any) graphsync.Row {
	row := graphsync.Row{Values: make([]any, len(table.Columns))}
	for i, c := range table.Columns {
		row.Values[i] = values[c.Name]
	}
	return row
}

// queryValue runs a query returning one value.
func queryValue[T any](t testing.TB, s *store.Store, sql string, args ...any) T {
	t.Helper()
	var v T
	if err := s.Pool().QueryRow(context.Background(), sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

// count runs a query returning one number.
func count(t testing.TB, s *store.Store, sql string, args ...any) int {
	t.Helper()
	return queryValue[int](t, s, sql, args...)
}

// text runs a query returning one string.
func text(t testing.TB, s *store.Store, sql string, args ...any) string {
	t.Helper()
	return queryValue[string](t, s, sql, args...)
}
