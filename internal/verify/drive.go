package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

// Drive compares a user's live drive items with the truth: the same ids,
// names, parents, sizes and full paths, and nothing extra; every column of
// every row (see rowCheck); and the rows of the items deleted since they were
// synced. The truth carries
// no paths (nor does Graph's delta); the expected path of every item is
// rebuilt from its parent chain, so a stale path below a renamed or moved
// folder shows up as a difference.
func Drive(ctx context.Context, pool *pgxpool.Pool, emulatorURL string, connectionID int64, userID string) ([]Result, error) {
	truth, err := Truth(ctx, emulatorURL, userID, "driveItems")
	if err != nil {
		return nil, err
	}
	// A delegated connection's user also holds the libraries it syncs.
	r, err := driveItems(ctx, pool, emulatorURL, connectionID, userID, "driveItems", truth,
		"user_id = $2 AND deleted_at IS NULL AND "+notLibraryOf("drive_items"))
	if err != nil {
		return nil, err
	}
	perms, err := Truth(ctx, emulatorURL, userID, "drivePermissions")
	if err != nil {
		return nil, err
	}
	p, err := permissions(ctx, pool, emulatorURL, connectionID, userID, perms,
		"i.user_id = $2 AND "+notLibraryOf("i"))
	if err != nil {
		return nil, err
	}
	return []Result{r, p}, nil
}

// notLibraryOf leaves out the drive items, named alias in the query, of
// the libraries a connection syncs.
func notLibraryOf(alias string) string {
	return "coalesce(" + alias + ".drive_id, '') NOT IN (SELECT id FROM site_drives WHERE connection_id = $1)"
}

// driveItems compares the live drive items in scope ($1 the connection,
// $2 the user) with truth, as Drive describes; resource names the truth
// for the rows of deleted items ("" for none).
func driveItems(ctx context.Context, pool *pgxpool.Pool, emulatorURL string, connectionID int64, userID, resource string,
	truth []json.RawMessage, scope string) (Result, error) {
	type item struct {
		name, parent, size string
		root               bool
	}
	items := make(map[string]item, len(truth))
	for _, raw := range truth {
		var o struct {
			ID              string           `json:"id"`
			Name            string           `json:"name"`
			Size            json.RawMessage  `json:"size"` // raw: a poison record may hold no number
			Root            *json.RawMessage `json:"root"`
			ParentReference struct {
				ID string `json:"id"`
			} `json:"parentReference"`
		}
		if err := json.Unmarshal(raw, &o); err != nil {
			return Result{}, fmt.Errorf("decode ground truth of %s: %w", resource, err)
		}
		it := item{name: store.CleanText(o.Name), size: string(o.Size), root: o.Root != nil}
		if it.size == "" {
			it.size = "0"
		}
		if !it.root {
			it.parent = o.ParentReference.ID
		}
		items[o.ID] = it
	}
	var path func(id string, depth int) string
	path = func(id string, depth int) string {
		it, ok := items[id]
		switch {
		case !ok || depth > 512:
			return "?"
		case it.root:
			return "/"
		}
		return strings.TrimSuffix(path(it.parent, depth+1), "/") + "/" + it.name
	}
	want := make(map[string]string, len(items))
	for id, it := range items {
		want[id] = fmt.Sprintf("%s|%s|%s|%s", it.name, it.parent, path(id, 0), it.size)
	}

	rows, err := pool.Query(ctx, `SELECT id, coalesce(name, ''), coalesce(parent_id, ''), coalesce(path, '<null>'), coalesce(size, 0)
		FROM drive_items WHERE connection_id = $1 AND `+scope, connectionID, userID)
	if err != nil {
		return Result{}, fmt.Errorf("read drive_items: %w", err)
	}
	defer rows.Close()
	got := map[string]string{}
	for rows.Next() {
		var id, name, parent, p string
		var size int64
		if err := rows.Scan(&id, &name, &parent, &p, &size); err != nil {
			return Result{}, fmt.Errorf("read drive_items: %w", err)
		}
		got[id] = fmt.Sprintf("%s|%s|%s|%d", name, parent, p, size)
	}
	if err := rows.Err(); err != nil {
		return Result{}, fmt.Errorf("read drive_items: %w", err)
	}
	r := compare("drive_items", connectionID, want, got)
	// Delta serves the shared facet on the items holding permissions of
	// their own only (Prefer: hierarchicalsharing), the truth on every
	// shared item: sharing is compared through the permissions.
	for i, raw := range truth {
		truth[i] = withoutMembers(raw, "shared")
	}
	c := rowCheck{table: graphsync.Drive.Items(), natural: []string{"parent_id", "name"}, scope: scope, extra: []string{"shared"}}
	if err := r.deep(ctx, pool, emulatorURL, c, userID, resource, truth, want, nil); err != nil {
		return Result{}, err
	}
	return r.finish(), nil
}
