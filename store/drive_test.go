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

// permissionsOf gives items of connection c a permission of their own each.
func permissionsOf(t *testing.T, s *store.Store, c *store.Connection, items ...string) {
	t.Helper()
	table := graphsync.Drive.Items().Details.Table
	for _, id := range items {
		row := item(t, table, graphsync.MapContext{User: "u1", Container: id},
			map[string]any{"id": "p-" + id, "roles": []string{"read"}, "link": map[string]any{"type": "view", "scope": "anonymous"}})
		upsert(t, s, table, c.ID, []graphsync.Row{row}, nil)
	}
}

// livePermissions counts the live permissions of items.
func livePermissions(t *testing.T, s *store.Store, c *store.Connection, items ...string) int {
	t.Helper()
	return count(t, s, `SELECT count(*) FROM drive_item_permissions WHERE connection_id = $1 AND item_id = ANY($2) AND deleted_at IS NULL`, c.ID, items)
}

// A drive item's permissions are retired with it, however it goes: its
// tombstone or its folder's, a full enumeration that no longer lists it,
// its library's removal; and when it no longer wants any (it inherits
// again), without a read.
func TestDrivePermissionsGoWithTheirItem(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	c := newConnection(t, s, "u1", store.Tokens{AccessToken: "a", RefreshToken: "r"})
	upsertDrive(t, s, c, driveItem(t, "root", "", "root"), driveItem(t, "a", "root", "A"), driveItem(t, "b", "a", "B"),
		driveItem(t, "f", "b", "f.txt"), driveItem(t, "g", "root", "g.txt"), driveItem(t, "h", "root", "h.txt"))
	permissionsOf(t, s, c, "root", "a", "f", "g", "h")

	deleteDrive(t, s, c, "a")
	if n := livePermissions(t, s, c, "a", "f"); n != 0 {
		t.Fatalf("%d permissions of a deleted folder and the file below it still live", n)
	}
	// b moved out of the deleted folder later in the round: f comes back
	// below it with its permissions (delta reports neither again); a does
	// not.
	upsertDrive(t, s, c, driveItem(t, "b", "root", "B"))
	if n := livePermissions(t, s, c, "a", "f"); n != 1 || livePermissions(t, s, c, "f") != 1 {
		t.Fatalf("%d permissions live of a and f, want f's only", n)
	}
	deleteDrive(t, s, c, "b")
	if n := livePermissions(t, s, c, "root", "g", "h"); n != 3 {
		t.Fatalf("%d permissions of live items, want 3", n)
	}

	// A full enumeration that lists the root and h only.
	since := time.Now()
	inTx(t, s, func(ctx context.Context, tx store.Tx) (store.Removed, error) {
		items := graphsync.Drive.Items()
		if _, err := s.UpsertTx(ctx, tx, items, c.ID, []graphsync.Row{driveItem(t, "root", "", "root"), driveItem(t, "h", "root", "h.txt")}, &since); err != nil {
			return store.Removed{}, err
		}
		return s.RetireUnseenTx(ctx, tx, items, stream(c, graphsync.Drive, "u1", graphsync.OwnDrive), since, graphsync.Window{})
	})
	if n := livePermissions(t, s, c, "g"); n != 0 {
		t.Fatalf("the permission of an item the enumeration did not list is live")
	}

	// h inherits again: delta reports it without the shared facet.
	retired := inTx(t, s, func(ctx context.Context, tx store.Tx) (int64, error) {
		return s.QueueDetailsTx(ctx, tx, graphsync.Drive.Items(), c.ID, "u1", []store.DetailItem{{ID: "h", Version: "v2"}, {ID: "root", Version: "v2", Wanted: true}})
	})
	if retired != 1 || livePermissions(t, s, c, "h") != 0 || livePermissions(t, s, c, "root") != 1 {
		t.Fatalf("retired %d permissions; h keeps %d, the root %d; want 1, 0, 1", retired,
			livePermissions(t, s, c, "h"), livePermissions(t, s, c, "root"))
	}
	pending, err := s.PendingDetails(context.Background(), graphsync.Drive.Items(), c.ID, "u1", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 1 || pending[0].ItemID != "root" {
		t.Fatalf("pending permission reads %v, want the root's only", pending)
	}

	// A library's items, and their permissions, go with the library.
	lib := item(t, graphsync.Sites.Folders(), graphsync.MapContext{User: "u1", Container: "site"},
		map[string]any{"id": "b!lib", "name": "Documents", "driveType": "documentLibrary"})
	upsert(t, s, graphsync.Sites.Folders(), c.ID, []graphsync.Row{lib}, nil)
	libItem := func(id, parent string) graphsync.Row {
		d := map[string]any{"id": id, "name": id, "file": map[string]any{}, "parentReference": map[string]any{"driveId": "b!lib", "id": parent}}
		if parent == "" {
			d = map[string]any{"id": id, "name": "root", "root": map[string]any{}, "folder": map[string]any{}, "parentReference": map[string]any{"driveId": "b!lib"}}
		}
		return item(t, graphsync.Drive.Items(), graphsync.MapContext{User: "u1", Container: graphsync.LibraryStream("b!lib")}, d)
	}
	upsertDrive(t, s, c, libItem("lroot", ""), libItem("l1", "lroot"))
	permissionsOf(t, s, c, "lroot", "l1")
	inTx(t, s, func(ctx context.Context, tx store.Tx) ([]string, error) {
		return s.RetireMissingTx(ctx, tx, graphsync.Sites.Folders(), c.ID, "u1", nil)
	})
	if n := livePermissions(t, s, c, "lroot", "l1"); n != 0 {
		t.Fatalf("%d permissions of a removed library's items still live", n)
	}
	if n := livePermissions(t, s, c, "root"); n != 1 {
		t.Fatalf("the OneDrive root's permission went with the library")
	}
}
