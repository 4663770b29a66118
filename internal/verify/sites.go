package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

// Sites compares a connection's live sites, document libraries and
// library items with the truth of the selected sites (URLs or ids, as
// --sites takes them; a selected site the tenant does not have is
// expected nowhere): the same sites and titles, the same libraries in the
// same sites, the same items with names, parents, paths and sizes, and
// every column of every row (see rowCheck). The rows of a delegated
// connection are its user's; those of an application connection the
// tenant's (user ""), compared with its first user's truth, which is the
// tenant's.
func Sites(ctx context.Context, pool *pgxpool.Pool, emulatorURL string, connectionID int64, userID string, selected []string) ([]Result, error) {
	users, app, err := connectionUsers(ctx, pool, connectionID, userID)
	if err != nil {
		return nil, err
	}
	if len(users) == 0 {
		return nil, fmt.Errorf("verify sites: connection %d has no user to read the truth as", connectionID)
	}
	asker, rowsUser := users[0], userID
	if app {
		rowsUser = ""
	}
	refs, err := graphsync.ParseSites(strings.Join(selected, ","))
	if err != nil {
		return nil, err
	}
	chosen := func(id, webURL string) bool {
		return slices.ContainsFunc(refs, func(r graphsync.SiteRef) bool {
			return strings.EqualFold(r.String(), id) || strings.EqualFold(r.String(), strings.TrimSuffix(webURL, "/"))
		})
	}
	type truthObject struct {
		ID          string `json:"id"`
		DisplayName string `json:"displayName"`
		Name        string `json:"name"`
		WebURL      string `json:"webUrl"`
		SiteID      string `json:"@emulator.siteId"`
		Parent      struct {
			DriveID string `json:"driveId"`
		} `json:"parentReference"`
	}
	read := func(resource string, keep func(o truthObject) bool) ([]truthObject, []json.RawMessage, error) {
		raws, err := Truth(ctx, emulatorURL, asker, resource)
		if err != nil {
			return nil, nil, err
		}
		var objs []truthObject
		var clean []json.RawMessage
		for _, raw := range raws {
			var o truthObject
			if err := json.Unmarshal(raw, &o); err != nil {
				return nil, nil, fmt.Errorf("decode ground truth of %s: %w", resource, err)
			}
			if keep(o) {
				objs, clean = append(objs, o), append(clean, withoutEmulatorKeys(raw))
			}
		}
		return objs, clean, nil
	}
	var out []Result
	scope := "user_id = $2 AND deleted_at IS NULL"

	siteObjs, siteTruth, err := read("sites", func(o truthObject) bool { return chosen(o.ID, o.WebURL) })
	if err != nil {
		return nil, err
	}
	siteIDs := map[string]bool{}
	want := map[string]string{}
	for _, o := range siteObjs {
		siteIDs[o.ID], want[o.ID] = true, store.CleanText(o.DisplayName)
	}
	got, err := storedPairs(ctx, pool, `SELECT id, coalesce(display_name, '') FROM sites WHERE connection_id = $1 AND user_id = $2 AND deleted_at IS NULL`,
		connectionID, rowsUser)
	if err != nil {
		return nil, fmt.Errorf("read sites: %w", err)
	}
	r := compare("sites", connectionID, want, got)
	if err := r.deep(ctx, pool, emulatorURL, rowCheck{table: graphsync.Sites.Outer(), scope: scope}, rowsUser, "", siteTruth, want, nil); err != nil {
		return nil, err
	}
	out = append(out, r.finish())

	libObjs, libTruth, err := read("siteDrives", func(o truthObject) bool { return siteIDs[o.SiteID] })
	if err != nil {
		return nil, err
	}
	libIDs := map[string]bool{}
	want = map[string]string{}
	for _, o := range libObjs {
		libIDs[o.ID], want[o.ID] = true, o.SiteID+"|"+store.CleanText(o.Name)
	}
	if got, err = storedPairs(ctx, pool, `SELECT id, coalesce(site_id, '') || '|' || coalesce(name, '') FROM site_drives
		WHERE connection_id = $1 AND user_id = $2 AND deleted_at IS NULL`, connectionID, rowsUser); err != nil {
		return nil, fmt.Errorf("read site_drives: %w", err)
	}
	r = compare("site_drives", connectionID, want, got)
	c := rowCheck{table: graphsync.Sites.Folders(), scope: scope,
		context: func(i int, _ json.RawMessage) graphsync.MapContext {
			return graphsync.MapContext{User: rowsUser, Container: libObjs[i].SiteID}
		}}
	if err := r.deep(ctx, pool, emulatorURL, c, rowsUser, "", libTruth, want, nil); err != nil {
		return nil, err
	}
	out = append(out, r.finish())

	_, itemTruth, err := read("siteDriveItems", func(o truthObject) bool { return libIDs[o.Parent.DriveID] })
	if err != nil {
		return nil, err
	}
	items, err := driveItems(ctx, pool, emulatorURL, connectionID, rowsUser, "", itemTruth,
		"user_id = $2 AND deleted_at IS NULL AND NOT ("+notLibraryOf("drive_items")+")")
	if err != nil {
		return nil, err
	}
	items.Table = "drive_items (libraries)"
	perms, err := Truth(ctx, emulatorURL, asker, "sitePermissions")
	if err != nil {
		return nil, err
	}
	perms = slices.DeleteFunc(perms, func(raw json.RawMessage) bool {
		var o struct {
			Drive string `json:"@emulator.driveId"`
		}
		return json.Unmarshal(raw, &o) != nil || !libIDs[o.Drive]
	})
	p, err := permissions(ctx, pool, emulatorURL, connectionID, rowsUser, perms,
		"i.user_id = $2 AND NOT ("+notLibraryOf("i")+")")
	if err != nil {
		return nil, err
	}
	p.Table = "drive_item_access (libraries)"
	return append(out, items, p), nil
}

// recordedSites is Sites for Resource, which has no --sites at hand: the
// selected sites are those the connection's streams record, as every
// selected site has a stream of its own, found or not. A site the worker
// never tried is therefore not caught here; Sites with the selection is.
func recordedSites(ctx context.Context, pool *pgxpool.Pool, emulatorURL string, connectionID int64, userID string) ([]Result, error) {
	prefix := graphsync.SiteStreamPrefix
	rows, err := pool.Query(ctx, `SELECT DISTINCT substr(stream, length($3) + 1) FROM sync_state
		WHERE connection_id = $1 AND resource = $2 AND starts_with(stream, $3)`, connectionID, graphsync.Sites.Name(), prefix)
	if err != nil {
		return nil, fmt.Errorf("read the selected sites of connection %d: %w", connectionID, err)
	}
	selected, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("read the selected sites of connection %d: %w", connectionID, err)
	}
	return Sites(ctx, pool, emulatorURL, connectionID, userID, selected)
}
