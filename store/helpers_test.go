package store_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

// Helpers shared by the tests of the synced tables.

// inTx runs fn in one transaction, as a page is applied, and fails the test
// on error.
func inTx(t testing.TB, s *store.Store, fn func(ctx context.Context, tx store.Tx) error) {
	t.Helper()
	ctx := context.Background()
	if err := s.InTx(ctx, func(tx store.Tx) error { return fn(ctx, tx) }); err != nil {
		t.Fatal(err)
	}
}

// upsert writes rows of table for a connection in one transaction and
// returns how many changed.
func upsert(t testing.TB, s *store.Store, table *graphsync.Table, conn int64, rows []graphsync.Row, seen *time.Time) int64 {
	t.Helper()
	var n int64
	inTx(t, s, func(ctx context.Context, tx store.Tx) (err error) {
		n, err = s.UpsertTx(ctx, tx, table, conn, rows, seen)
		return err
	})
	return n
}

// remove retires the rows Graph reported removed in a stream.
func remove(t testing.TB, s *store.Store, table *graphsync.Table, st graphsync.Stream, w graphsync.Window, ids ...string) store.Removed {
	t.Helper()
	var r store.Removed
	inTx(t, s, func(ctx context.Context, tx store.Tx) (err error) {
		r, err = s.RemoveTx(ctx, tx, table, st, ids, w)
		return err
	})
	return r
}

// retireUnseen retires the rows of a stream a full round begun at since
// did not see.
func retireUnseen(t testing.TB, s *store.Store, table *graphsync.Table, st graphsync.Stream, since time.Time, w graphsync.Window) store.Removed {
	t.Helper()
	var r store.Removed
	inTx(t, s, func(ctx context.Context, tx store.Tx) (err error) {
		r, err = s.RetireUnseenTx(ctx, tx, table, st, since, w)
		return err
	})
	return r
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

// count runs a query returning one number.
func count(t testing.TB, s *store.Store, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := s.Pool().QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// text runs a query returning one string.
func text(t testing.TB, s *store.Store, sql string, args ...any) string {
	t.Helper()
	var v string
	if err := s.Pool().QueryRow(context.Background(), sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}
