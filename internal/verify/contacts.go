package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

// Contacts compares a user's live contact folders and contacts with the
// truth: the same ids, parent folders, display names, job titles and first
// e-mail addresses, and nothing extra; every column of every row (see
// rows); and the rows of what was deleted since it was synced. Contacts
// graphsync cannot decode are left out of the truth: they are quarantined.
func Contacts(ctx context.Context, pool *pgxpool.Pool, emulatorURL string, connectionID int64, userID string) ([]Result, error) {
	var out []Result
	for _, k := range []struct {
		resource, table, folder, email string
		rows                           rowCheck
	}{
		{"contactFolders", "contact_folders", "coalesce(parent_folder_id, '')", "''",
			rowCheck{table: graphsync.Contacts.Folders(), natural: []string{"parent_folder_id", "display_name"}}},
		{"contacts", "contacts", "coalesce(folder_id, '')", "coalesce(email_address, '')",
			rowCheck{table: graphsync.Contacts.Items(), natural: []string{"folder_id", "display_name", "created_at"}}},
	} {
		truth, err := Truth(ctx, emulatorURL, userID, k.resource)
		if err != nil {
			return nil, err
		}
		want := map[string]string{}
		for _, raw := range truth {
			var o struct {
				ID              string          `json:"id"`
				CreatedDateTime json.RawMessage `json:"createdDateTime"`
				ParentFolderID  string          `json:"parentFolderId"`
				DisplayName     string          `json:"displayName"`
				JobTitle        string          `json:"jobTitle"`
				EmailAddresses  []struct {
					Address string `json:"address"`
				} `json:"emailAddresses"`
			}
			if err := json.Unmarshal(raw, &o); err != nil {
				return nil, fmt.Errorf("decode ground truth of %s: %w", k.resource, err)
			}
			// A contact whose times cannot be read is quarantined, not stored.
			if len(o.CreatedDateTime) > 0 && string(o.CreatedDateTime) != "null" {
				var t time.Time
				if json.Unmarshal(o.CreatedDateTime, &t) != nil {
					continue
				}
			}
			email := ""
			if len(o.EmailAddresses) > 0 {
				email = strings.ToLower(o.EmailAddresses[0].Address)
			}
			want[o.ID] = fmt.Sprintf("%s|%s|%s|%s", o.ParentFolderID, store.CleanText(o.DisplayName), store.CleanText(o.JobTitle), email)
		}
		rows, err := pool.Query(ctx, fmt.Sprintf(`SELECT id, %s, coalesce(display_name, ''), coalesce(raw->>'jobTitle', ''), %s
			FROM %s WHERE connection_id = $1 AND user_id = $2 AND deleted_at IS NULL`, k.folder, k.email, k.table), connectionID, userID)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", k.table, err)
		}
		got := map[string]string{}
		for rows.Next() {
			var id, folder, name, title, email string
			if err := rows.Scan(&id, &folder, &name, &title, &email); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read %s: %w", k.table, err)
			}
			got[id] = fmt.Sprintf("%s|%s|%s|%s", folder, name, title, email)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read %s: %w", k.table, err)
		}
		r := compare(k.table, connectionID, want, got)
		if err := r.deep(ctx, pool, emulatorURL, k.rows, userID, k.resource, truth, want, nil); err != nil {
			return nil, err
		}
		out = append(out, r.finish())
	}
	return out, nil
}
