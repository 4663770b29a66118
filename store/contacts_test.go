package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/graphsync/graphsync/internal/pgtest"
	"github.com/graphsync/graphsync/store"
)

func contact(id, folder string) store.Contact {
	return store.Contact{ID: id, UserID: "u1", FolderID: folder, DisplayName: "C " + id, EmailAddress: "Ann@Example.COM",
		Birthday: time.Date(1980, 7, 22, 0, 0, 0, 0, time.UTC),
		Raw:      []byte(fmt.Sprintf(`{"id":%q,"parentFolderId":%q}`, id, folder))}
}

// The default Contacts folder's stream knows no folder id: its removals and
// retirements reach the user's contacts that no listed folder holds.
func TestDeleteContactsOfDefaultFolder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.Store(t)
	c := newConnection(t, s, "u1", store.Tokens{AccessToken: "a", RefreshToken: "r"})
	do := func(fn func(tx pgx.Tx) (int64, error)) int64 {
		t.Helper()
		var n int64
		if err := s.Tx(ctx, func(tx pgx.Tx) error {
			var err error
			n, err = fn(tx)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	seen := time.Now().Add(-time.Hour)
	do(func(tx pgx.Tx) (int64, error) {
		return s.UpsertContactFoldersTx(ctx, tx, c.ID, []store.ContactFolder{{ID: "f1", UserID: "u1", ParentFolderID: "def", Raw: []byte(`{"id":"f1"}`)}}, nil)
	})
	if n := do(func(tx pgx.Tx) (int64, error) {
		return s.UpsertContactsTx(ctx, tx, c.ID, []store.Contact{contact("a", "def"), contact("b", "def"), contact("m", "f1"), contact("x", "f1")}, &seen)
	}); n != 4 {
		t.Fatalf("upsert changed %d rows, want 4", n)
	}
	var email string
	if err := s.Pool().QueryRow(ctx, "SELECT email_address FROM contacts WHERE id = 'a'").Scan(&email); err != nil || email != "ann@example.com" {
		t.Fatalf("email_address %q (%v), want it lower-cased", email, err)
	}
	// m moved to f1 before the default folder reported it removed: it stays.
	if n := do(func(tx pgx.Tx) (int64, error) {
		return s.DeleteContactsTx(ctx, tx, c.ID, "u1", "", []string{"a", "m"})
	}); n != 1 {
		t.Fatalf("default folder removal deleted %d contacts, want 1 (a)", n)
	}
	// A full round of the default folder that saw nothing retires b only.
	if n := do(func(tx pgx.Tx) (int64, error) {
		return s.RetireUnseenContactsTx(ctx, tx, c.ID, "u1", "", time.Now())
	}); n != 1 {
		t.Fatalf("default folder retirement retired %d contacts, want 1 (b)", n)
	}
	// Deleting f1 retires what it held.
	if n := do(func(tx pgx.Tx) (int64, error) { return s.DeleteContactFoldersTx(ctx, tx, c.ID, []string{"f1"}) }); n != 1 {
		t.Fatalf("deleted %d folders, want 1", n)
	}
	var live int
	if err := s.Pool().QueryRow(ctx, "SELECT count(*) FROM contacts WHERE deleted_at IS NULL").Scan(&live); err != nil || live != 0 {
		t.Fatalf("%d live contacts (%v), want 0", live, err)
	}
}
