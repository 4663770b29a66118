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

func driveItem(id, parent, name string) store.DriveItem {
	d := store.DriveItem{ID: id, UserID: "u1", DriveID: "b!d", Name: name, ParentID: parent, IsFolder: true,
		Raw: []byte(fmt.Sprintf(`{"id":%q,"name":%q,"parentReference":{"id":%q}}`, id, name, parent))}
	if parent == "" {
		d.IsRoot, d.Raw = true, []byte(fmt.Sprintf(`{"id":%q,"name":%q,"root":{}}`, id, name))
	}
	return d
}

// driveTx runs fn in one transaction, as a page is applied.
func driveTx(t *testing.T, s *store.Store, fn func(ctx context.Context, tx pgx.Tx) error) {
	t.Helper()
	if err := s.Tx(context.Background(), func(tx pgx.Tx) error { return fn(context.Background(), tx) }); err != nil {
		t.Fatal(err)
	}
}

func upsertDrive(t *testing.T, s *store.Store, connID int64, items ...store.DriveItem) {
	t.Helper()
	driveTx(t, s, func(ctx context.Context, tx pgx.Tx) error {
		_, err := s.UpsertDriveItemsTx(ctx, tx, connID, items, nil)
		return err
	})
}

func deleteDrive(t *testing.T, s *store.Store, connID int64, ids ...string) {
	t.Helper()
	driveTx(t, s, func(ctx context.Context, tx pgx.Tx) error {
		_, err := s.DeleteDriveItemsTx(ctx, tx, connID, ids)
		return err
	})
}

// drivePaths returns the live items' paths ("<null>" when unknown).
func drivePaths(t *testing.T, s *store.Store, connID int64) map[string]string {
	t.Helper()
	rows, err := s.Pool().Query(context.Background(),
		`SELECT id, coalesce(path, '<null>') FROM drive_items WHERE connection_id = $1 AND deleted_at IS NULL`, connID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for rows.Next() {
		var id, p string
		if err := rows.Scan(&id, &p); err != nil {
			t.Fatal(err)
		}
		out[id] = p
	}
	return out
}

func wantPaths(t *testing.T, got, want map[string]string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("paths:\n got %v\nwant %v", got, want)
	}
}

func TestDrivePaths(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	c := newConnection(t, s, "u1", store.Tokens{AccessToken: "a", RefreshToken: "r"})

	// A child arrives before its parent, which arrives before the root.
	upsertDrive(t, s, c.ID, driveItem("f", "a", "f.txt"))
	upsertDrive(t, s, c.ID, driveItem("a", "root", "A"), driveItem("b", "a", "B"))
	wantPaths(t, drivePaths(t, s, c.ID), map[string]string{"f": "<null>", "a": "<null>", "b": "<null>"})
	upsertDrive(t, s, c.ID, driveItem("root", "", "root"), driveItem("g", "b", "g.txt"))
	wantPaths(t, drivePaths(t, s, c.ID), map[string]string{"root": "/", "a": "/A", "b": "/A/B", "f": "/A/f.txt", "g": "/A/B/g.txt"})

	// Renaming a folder rewrites every path below it, and only those.
	upsertDrive(t, s, c.ID, driveItem("a", "root", "A2"))
	wantPaths(t, drivePaths(t, s, c.ID), map[string]string{"root": "/", "a": "/A2", "b": "/A2/B", "f": "/A2/f.txt", "g": "/A2/B/g.txt"})

	// Moving a folder, reported with its new parent in one page.
	upsertDrive(t, s, c.ID, driveItem("c", "root", "C"), driveItem("b", "c", "B"))
	wantPaths(t, drivePaths(t, s, c.ID), map[string]string{"root": "/", "a": "/A2", "c": "/C", "b": "/C/B", "f": "/A2/f.txt", "g": "/C/B/g.txt"})

	// Re-sending the same items writes nothing.
	var before time.Time
	if err := s.Pool().QueryRow(context.Background(), `SELECT max(synced_at) FROM drive_items`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	upsertDrive(t, s, c.ID, driveItem("a", "root", "A2"), driveItem("b", "c", "B"))
	var n int
	if err := s.Pool().QueryRow(context.Background(), `SELECT count(*) FROM drive_items WHERE synced_at > $1`, before).Scan(&n); err != nil || n != 0 {
		t.Fatalf("unchanged items rewrote %d rows (%v)", n, err)
	}
}

func TestDriveFolderDeletion(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	c := newConnection(t, s, "u1", store.Tokens{AccessToken: "a", RefreshToken: "r"})
	upsertDrive(t, s, c.ID, driveItem("root", "", "root"), driveItem("a", "root", "A"), driveItem("b", "a", "B"),
		driveItem("f", "b", "f.txt"), driveItem("g", "a", "g.txt"))

	// Deleting a folder retires what lies below it, reported or not.
	deleteDrive(t, s, c.ID, "a")
	wantPaths(t, drivePaths(t, s, c.ID), map[string]string{"root": "/"})

	// An item moved out of the deleted folder later in the round comes
	// back with what lies below it; what stayed in the folder does not.
	upsertDrive(t, s, c.ID, driveItem("b", "root", "B"))
	wantPaths(t, drivePaths(t, s, c.ID), map[string]string{"root": "/", "b": "/B", "f": "/B/f.txt"})

	// An item reported deleted itself stays deleted when its folder
	// comes back.
	deleteDrive(t, s, c.ID, "f")
	upsertDrive(t, s, c.ID, driveItem("b", "root", "B2"))
	wantPaths(t, drivePaths(t, s, c.ID), map[string]string{"root": "/", "b": "/B2"})

	// A full enumeration retires what it did not see.
	since := time.Now()
	driveTx(t, s, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := s.UpsertDriveItemsTx(ctx, tx, c.ID, []store.DriveItem{driveItem("root", "", "root")}, &since); err != nil {
			return err
		}
		n, err := s.RetireUnseenDriveItemsTx(ctx, tx, c.ID, "u1", since)
		if err == nil && n != 1 {
			err = fmt.Errorf("retired %d items, want 1", n)
		}
		return err
	})
	wantPaths(t, drivePaths(t, s, c.ID), map[string]string{"root": "/"})
}
