package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/pgtest"
	"github.com/graphsync/graphsync/store"
)

// contact is a contact of user u1 in a folder, as contacts/delta sends it.
func contact(t testing.TB, id, folder string) graphsync.Row {
	return item(t, graphsync.Contacts.Items(), graphsync.MapContext{User: "u1", Container: folder}, map[string]any{
		"id": id, "parentFolderId": folder, "displayName": "C " + id, "createdDateTime": "2025-01-01T00:00:00Z",
		"emailAddresses": []any{map[string]any{"name": "Ann", "address": "Ann@Example.COM"}},
		"birthday":       "1980-07-22T00:00:00Z"})
}

// The default Contacts folder's stream knows no folder id: its removals and
// retirements reach the user's contacts that no listed folder holds.
func TestDeleteContactsOfDefaultFolder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.Store(t)
	c := newConnection(t, s, "u1", store.Tokens{AccessToken: "a", RefreshToken: "r"})
	folders, contacts := graphsync.Contacts.Folders(), graphsync.Contacts.Items()
	defaultFolder := stream(c, graphsync.Contacts, "u1", "")
	seen := time.Now().Add(-time.Hour)
	upsert(t, s, folders, c.ID, []graphsync.Row{item(t, folders, graphsync.MapContext{User: "u1"},
		map[string]any{"id": "f1", "parentFolderId": "def", "displayName": "Friends"})}, nil)
	if n := upsert(t, s, contacts, c.ID, []graphsync.Row{contact(t, "a", "def"), contact(t, "b", "def"), contact(t, "m", "f1"),
		contact(t, "x", "f1")}, &seen); n != 4 {
		t.Fatalf("upsert changed %d rows, want 4", n)
	}
	var email string
	if err := s.Pool().QueryRow(ctx, "SELECT email_address FROM contacts WHERE id = 'a'").Scan(&email); err != nil || email != "ann@example.com" {
		t.Fatalf("email_address %q (%v), want it lower-cased", email, err)
	}
	// m moved to f1 before the default folder reported it removed: it stays.
	if r := remove(t, s, contacts, defaultFolder, graphsync.Window{}, "a", "m"); r.Deleted != 1 {
		t.Fatalf("default folder removal deleted %d contacts, want 1 (a)", r.Deleted)
	}
	// A full round of the default folder that saw nothing retires b only.
	if r := retireUnseen(t, s, contacts, defaultFolder, time.Now(), graphsync.Window{}); r.Deleted != 1 {
		t.Fatalf("default folder retirement retired %d contacts, want 1 (b)", r.Deleted)
	}
	// Deleting f1 retires what it held.
	if r := remove(t, s, folders, defaultFolder, graphsync.Window{}, "f1"); r.Deleted != 1 {
		t.Fatalf("deleted %d folders, want 1", r.Deleted)
	}
	if live := count(t, s, "SELECT count(*) FROM contacts WHERE deleted_at IS NULL"); live != 0 {
		t.Fatalf("%d live contacts, want 0", live)
	}
}
