package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/pgtest"
	"github.com/graphsync/graphsync/store"
)

// driveItem is a folder of user u1's drive as root/delta sends it; without
// a parent, the drive's root.
func driveItem(t testing.TB, id, parent, name string) graphsync.Row {
	d := map[string]any{"id": id, "name": name, "folder": map[string]any{"childCount": 0},
		"parentReference": map[string]any{"driveId": "b!d", "id": parent}}
	if parent == "" {
		d["root"], d["parentReference"] = map[string]any{}, map[string]any{"driveId": "b!d"}
	}
	return item(t, graphsync.Drive.Items(), graphsync.MapContext{User: "u1", Container: graphsync.OwnDrive}, d)
}

func upsertDrive(t *testing.T, s *store.Store, c *store.Connection, items ...graphsync.Row) {
	t.Helper()
	upsert(t, s, graphsync.Drive.Items(), c.ID, items, nil)
}

func deleteDrive(t *testing.T, s *store.Store, c *store.Connection, ids ...string) {
	t.Helper()
	remove(t, s, graphsync.Drive.Items(), stream(c, graphsync.Drive, "u1", graphsync.OwnDrive), graphsync.Window{}, ids...)
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
	upsertDrive(t, s, c, driveItem(t, "f", "a", "f.txt"))
	upsertDrive(t, s, c, driveItem(t, "a", "root", "A"), driveItem(t, "b", "a", "B"))
	wantPaths(t, drivePaths(t, s, c.ID), map[string]string{"f": "<null>", "a": "<null>", "b": "<null>"})
	upsertDrive(t, s, c, driveItem(t, "root", "", "root"), driveItem(t, "g", "b", "g.txt"))
	wantPaths(t, drivePaths(t, s, c.ID), map[string]string{"root": "/", "a": "/A", "b": "/A/B", "f": "/A/f.txt", "g": "/A/B/g.txt"})

	// Renaming a folder rewrites every path below it, and only those.
	upsertDrive(t, s, c, driveItem(t, "a", "root", "A2"))
	wantPaths(t, drivePaths(t, s, c.ID), map[string]string{"root": "/", "a": "/A2", "b": "/A2/B", "f": "/A2/f.txt", "g": "/A2/B/g.txt"})

	// Moving a folder, reported with its new parent in one page.
	upsertDrive(t, s, c, driveItem(t, "c", "root", "C"), driveItem(t, "b", "c", "B"))
	wantPaths(t, drivePaths(t, s, c.ID), map[string]string{"root": "/", "a": "/A2", "c": "/C", "b": "/C/B", "f": "/A2/f.txt", "g": "/C/B/g.txt"})

	// Re-sending the same items writes nothing.
	var before time.Time
	if err := s.Pool().QueryRow(context.Background(), `SELECT max(synced_at) FROM drive_items`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	upsertDrive(t, s, c, driveItem(t, "a", "root", "A2"), driveItem(t, "b", "c", "B"))
	if n := count(t, s, `SELECT count(*) FROM drive_items WHERE synced_at > $1`, before); n != 0 {
		t.Fatalf("unchanged items rewrote %d rows", n)
	}
}

func TestDriveFolderDeletion(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	c := newConnection(t, s, "u1", store.Tokens{AccessToken: "a", RefreshToken: "r"})
	upsertDrive(t, s, c, driveItem(t, "root", "", "root"), driveItem(t, "a", "root", "A"), driveItem(t, "b", "a", "B"),
		driveItem(t, "f", "b", "f.txt"), driveItem(t, "g", "a", "g.txt"))

	// Deleting a folder retires what lies below it, reported or not.
	deleteDrive(t, s, c, "a")
	wantPaths(t, drivePaths(t, s, c.ID), map[string]string{"root": "/"})

	// An item moved out of the deleted folder later in the round comes
	// back with what lies below it; what stayed in the folder does not.
	upsertDrive(t, s, c, driveItem(t, "b", "root", "B"))
	wantPaths(t, drivePaths(t, s, c.ID), map[string]string{"root": "/", "b": "/B", "f": "/B/f.txt"})

	// An item reported deleted itself stays deleted when its folder
	// comes back.
	deleteDrive(t, s, c, "f")
	upsertDrive(t, s, c, driveItem(t, "b", "root", "B2"))
	wantPaths(t, drivePaths(t, s, c.ID), map[string]string{"root": "/", "b": "/B2"})

	// A full enumeration retires what it did not see.
	since := time.Now()
	r := inTx(t, s, func(ctx context.Context, tx store.Tx) (store.Removed, error) {
		items := graphsync.Drive.Items()
		if _, err := s.UpsertTx(ctx, tx, items, c.ID, []graphsync.Row{driveItem(t, "root", "", "root")}, &since); err != nil {
			return store.Removed{}, err
		}
		return s.RetireUnseenTx(ctx, tx, items, stream(c, graphsync.Drive, "u1", graphsync.OwnDrive), since, graphsync.Window{})
	})
	if r.Deleted != 1 {
		t.Fatalf("retired %d items, want 1", r.Deleted)
	}
	wantPaths(t, drivePaths(t, s, c.ID), map[string]string{"root": "/"})
}
