package verify

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

// Groups compares an application connection's live groups and group
// memberships with the tenant's truth: the same groups with every column
// (see rowCheck) and nothing extra, and the same live memberships with
// their member types. Groups are the tenant's: userID only names a user
// the truth is read through (any live user when empty).
func Groups(ctx context.Context, pool *pgxpool.Pool, emulatorURL string, connectionID int64, userID string) ([]Result, error) {
	if userID == "" {
		users, _, err := connectionUsers(ctx, pool, connectionID, "")
		if err != nil {
			return nil, err
		}
		if len(users) == 0 {
			return nil, fmt.Errorf("verify groups of connection %d: no live user to read the truth through", connectionID)
		}
		userID = users[0]
	}
	raws, err := Truth(ctx, emulatorURL, userID, "groups")
	if err != nil {
		return nil, err
	}
	wantGroups, wantMembers := map[string]string{}, map[string]string{}
	truth := make([]json.RawMessage, 0, len(raws))
	for _, raw := range raws {
		var o map[string]json.RawMessage
		if err := json.Unmarshal(raw, &o); err != nil {
			return nil, fmt.Errorf("decode ground truth of groups: %w", err)
		}
		var g struct {
			ID          string `json:"id"`
			DisplayName string `json:"displayName"`
		}
		var members []string
		if err := json.Unmarshal(raw, &g); err != nil || json.Unmarshal(o["@emulator.members"], &members) != nil {
			return nil, fmt.Errorf("decode ground truth of group: %s", short(string(raw)))
		}
		wantGroups[g.ID] = store.CleanText(g.DisplayName)
		for _, m := range members {
			// The emulator's members are users.
			wantMembers[g.ID+"/"+m] = "#microsoft.graph.user"
		}
		delete(o, "@emulator.members")
		b, err := json.Marshal(o)
		if err != nil {
			return nil, err
		}
		truth = append(truth, b)
	}
	gotGroups, err := readPairs(ctx, pool, "groups", `SELECT id, coalesce(display_name, '') FROM groups WHERE connection_id = $1 AND deleted_at IS NULL`, connectionID)
	if err != nil {
		return nil, err
	}
	groups := compare(graphsync.Groups.Items().Name, connectionID, wantGroups, gotGroups)
	if err := groups.deep(ctx, pool, emulatorURL, rowCheck{table: graphsync.Groups.Items(), scope: "deleted_at IS NULL AND $2::text IS NOT NULL"},
		userID, "", truth, wantGroups, nil); err != nil {
		return nil, err
	}
	gotMembers, err := readPairs(ctx, pool, "group_members", `SELECT group_id || '/' || member_id, coalesce(member_type, '') FROM group_members
		WHERE connection_id = $1 AND deleted_at IS NULL`, connectionID)
	if err != nil {
		return nil, err
	}
	members := compare(graphsync.GroupMembers.Name, connectionID, wantMembers, gotMembers)
	return []Result{groups.finish(), members.finish()}, nil
}

// readPairs reads a query's rows of a key and a value of table ($1 the
// connection).
func readPairs(ctx context.Context, pool *pgxpool.Pool, table, sql string, connectionID int64) (map[string]string, error) {
	rows, err := pool.Query(ctx, sql, connectionID)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", table, err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, rows.Err()
}
