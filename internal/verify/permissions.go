package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/graphsync/graphsync/graphsync"
)

// permissions compares who can reach each live item of the drives in
// itemScope (a condition on drive_items as i, live or deleted, $1 the
// connection, $2 the user) with truth (drivePermissions or
// sitePermissions): through drive_item_access, every item has the same
// permissions, with the same roles, from the same item (its own, or its
// nearest ancestor's with permissions of its own); the rows of
// drive_item_permissions of the items holding their own equal the truth
// column by column; and no deleted item keeps a live permission.
func permissions(ctx context.Context, pool *pgxpool.Pool, emulatorURL string, connectionID int64, userID string,
	truth []json.RawMessage, drivesScope string) (Result, error) {
	itemScope := "i.deleted_at IS NULL AND " + drivesScope
	want := map[string]string{}
	var held []json.RawMessage
	var holders []string
	for _, raw := range truth {
		var o struct {
			ID    string   `json:"id"`
			Roles []string `json:"roles"`
			Item  string   `json:"@emulator.itemId"`
			From  string   `json:"@emulator.inheritedFrom"`
		}
		if err := json.Unmarshal(raw, &o); err != nil {
			return Result{}, fmt.Errorf("decode ground truth of permissions: %w", err)
		}
		roles := slices.Clone(o.Roles)
		slices.Sort(roles)
		want[o.Item+"/"+o.ID] = o.From + "|" + strings.Join(roles, ",")
		if o.Item == o.From {
			held, holders = append(held, withoutEmulatorKeys(raw)), append(holders, o.Item)
		}
	}
	got, err := storedPairs(ctx, pool, `SELECT a.item_id || '/' || a.permission_id,
			a.permissions_from || '|' || array_to_string(ARRAY(SELECT unnest(a.roles) ORDER BY 1), ',')
		FROM drive_item_access a JOIN drive_items i ON i.connection_id = a.connection_id AND i.id = a.item_id
		WHERE a.connection_id = $1 AND `+itemScope, connectionID, userID)
	if err != nil {
		return Result{}, fmt.Errorf("read drive_item_access: %w", err)
	}
	r := compare("drive_item_access", connectionID, want, got)
	c := rowCheck{table: graphsync.Drive.Items().Details.Table,
		scope: "deleted_at IS NULL AND item_id IN (SELECT i.id FROM drive_items i WHERE i.connection_id = $1 AND " + itemScope + ")",
		context: func(i int, _ json.RawMessage) graphsync.MapContext {
			return graphsync.MapContext{User: userID, Container: holders[i]}
		}}
	if err := r.deep(ctx, pool, emulatorURL, c, userID, "", held, want, nil); err != nil {
		return Result{}, err
	}
	orphans, err := storedPairs(ctx, pool, `SELECT p.item_id || '/' || p.id, '' FROM drive_item_permissions p
		JOIN drive_items i ON i.connection_id = p.connection_id AND i.id = p.item_id
		WHERE p.connection_id = $1 AND p.deleted_at IS NULL AND i.deleted_at IS NOT NULL AND `+drivesScope, connectionID, userID)
	if err != nil {
		return Result{}, fmt.Errorf("read drive_item_permissions of deleted items: %w", err)
	}
	for k := range orphans {
		r.add("extra " + k + ": a live permission of a deleted item")
	}
	return r.finish(), nil
}
