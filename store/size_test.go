package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/pgtest"
	"github.com/graphsync/graphsync/store"
)

// TestLiveIDsLargestFirst lists folders largest first (an initial sync
// starts the longest streams first), folders Graph did not count last.
func TestLiveIDsLargestFirst(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	c := newConnection(t, s, "u1", store.Tokens{AccessToken: "a", RefreshToken: "r"})
	folders := graphsync.Mail.Folders()
	var rows []graphsync.Row
	for id, n := range map[string]any{"a": 5, "b": 900, "c": nil, "d": 40, "e": 900} {
		rows = append(rows, item(t, folders, graphsync.MapContext{User: "u1"}, map[string]any{
			"id": id, "displayName": "Folder " + id, "parentFolderId": "root", "totalItemCount": n}))
	}
	upsert(t, s, folders, c.ID, rows, nil)
	ids, err := s.LiveIDs(context.Background(), folders, c.ID, "u1")
	if err != nil || fmt.Sprint(ids) != "[b e d a c]" {
		t.Fatalf("live folders %v (%v), want [b e d a c]", ids, err)
	}
}

// TestRawCompressedWithLZ4 checks that every synced table's raw JSON is
// compressed with lz4 (migration 023; child tables have none).
func TestRawCompressedWithLZ4(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	for _, table := range graphsync.Tables() {
		var method string
		if err := s.Pool().QueryRow(context.Background(), `SELECT coalesce((SELECT attcompression::text FROM pg_attribute
			WHERE attrelid = $1::regclass AND attname = 'raw'), 'none')`, table.Name).Scan(&method); err != nil {
			t.Fatalf("%s: %v", table.Name, err)
		}
		if method != "l" && method != "none" {
			t.Errorf("%s.raw is compressed with %q, want lz4 (l)", table.Name, method)
		}
	}
}
