// Package verify compares graphsync's tables with the emulator's ground
// truth, for the demo, the chaos run and the end-to-end tests.
package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

// Truth reads the emulator's ground truth of one user's resource over its
// control plane, with immutable ids as graphsync requests them.
func Truth(ctx context.Context, emulatorURL, userID, resource string) ([]json.RawMessage, error) {
	return readTruth(ctx, emulatorURL+"/_emulator/truth/"+url.PathEscape(userID)+"/"+resource+"?idType=ImmutableId", resource)
}

// Result is the outcome of one comparison.
type Result struct {
	Table        string
	ConnectionID int64
	Truth, Rows  int
	Diffs        []string // at most 20, then a count
	// The differences by kind: rows missing, rows stored differently (a
	// field, a column), live rows Microsoft 365 no longer has, items live
	// more than once, and rows deleted outright instead of marked deleted.
	Missing, Wrong, Extra, Duplicates, HardDeleted int
}

// add counts diffs and keeps them.
func (r *Result) add(diffs ...string) {
	for _, d := range diffs {
		switch {
		case strings.HasPrefix(d, "missing "):
			r.Missing++
		case strings.HasPrefix(d, "extra "):
			r.Extra++
		case strings.HasPrefix(d, "duplicate: "):
			r.Duplicates++
		case strings.HasPrefix(d, "hard-deleted "):
			r.HardDeleted++
		default:
			r.Wrong++
		}
	}
	r.Diffs = append(r.Diffs, diffs...)
}

// finish sorts the differences and keeps the first 20.
func (r Result) finish() Result {
	sort.Strings(r.Diffs)
	if len(r.Diffs) > 20 {
		r.Diffs = append(r.Diffs[:20:20], fmt.Sprintf("… and %d more", len(r.Diffs)-20))
	}
	return r
}

// Mail compares a connection's live mail folders and messages with the
// truth: the same ids, parent folders, subjects (display names), read and
// flag state, and nothing extra; every column of every row (see rowCheck);
// the rows of what was deleted since it was synced; and the messages'
// attachments (see Attachments).
func Mail(ctx context.Context, pool *pgxpool.Pool, emulatorURL string, connectionID int64, userID string) ([]Result, error) {
	var out []Result
	for _, k := range []struct {
		resource, table, folder string
		rows                    rowCheck
	}{
		{"mailFolders", "mail_folders", "coalesce(parent_folder_id, '')",
			rowCheck{table: graphsync.Mail.Folders(), natural: []string{"parent_folder_id", "display_name"}}},
		{"messages", "mail_messages", "coalesce(folder_id, '')",
			rowCheck{table: graphsync.Mail.Items(), natural: []string{"internet_message_id"}}},
	} {
		truth, err := Truth(ctx, emulatorURL, userID, k.resource)
		if err != nil {
			return nil, err
		}
		want := map[string]string{}
		for _, raw := range truth {
			var o struct {
				ID             string `json:"id"`
				ParentFolderID string `json:"parentFolderId"`
				Subject        string `json:"subject"`
				DisplayName    string `json:"displayName"`
				IsRead         bool   `json:"isRead"`
				Flag           struct {
					FlagStatus string `json:"flagStatus"`
				} `json:"flag"`
			}
			if err := json.Unmarshal(raw, &o); err != nil {
				return nil, fmt.Errorf("decode ground truth of %s: %w", k.resource, err)
			}
			want[o.ID] = fmt.Sprintf("%s|%s|%t|%s", o.ParentFolderID, store.CleanText(o.Subject+o.DisplayName), o.IsRead, o.Flag.FlagStatus)
		}
		rs, err := pool.Query(ctx, fmt.Sprintf(`SELECT id, %s, coalesce(raw->>'subject', '') || coalesce(raw->>'displayName', ''),
			coalesce((raw->>'isRead')::boolean, false), coalesce(raw->'flag'->>'flagStatus', '')
			FROM %s WHERE connection_id = $1 AND user_id = $2 AND deleted_at IS NULL`, k.folder, k.table), connectionID, userID)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", k.table, err)
		}
		got := map[string]string{}
		for rs.Next() {
			var id, folder, subject, flag string
			var isRead bool
			if err := rs.Scan(&id, &folder, &subject, &isRead, &flag); err != nil {
				rs.Close()
				return nil, err
			}
			got[id] = fmt.Sprintf("%s|%s|%t|%s", folder, subject, isRead, flag)
		}
		rs.Close()
		if err := rs.Err(); err != nil {
			return nil, err
		}
		r := compare(k.table, connectionID, want, got)
		if err := r.deep(ctx, pool, emulatorURL, k.rows, userID, k.resource, truth, want, nil); err != nil {
			return nil, err
		}
		out = append(out, r.finish())
	}
	a, err := Attachments(ctx, pool, emulatorURL, connectionID, userID)
	if err != nil {
		return nil, err
	}
	return append(out, a), nil
}

// deep adds to r the comparison of every column (c), and of the rows of
// what was deleted since it was synced (those keep allows, all when nil;
// live holds the live truth's ids).
func (r *Result) deep(ctx context.Context, pool *pgxpool.Pool, emulatorURL string, c rowCheck, userID, resource string,
	truth []json.RawMessage, live map[string]string, keep func(json.RawMessage) bool) error {
	diffs, err := c.check(ctx, pool, r.ConnectionID, userID, truth)
	if err != nil {
		return err
	}
	r.add(diffs...)
	if resource == "" {
		return nil
	}
	if diffs, err = deleted(ctx, pool, emulatorURL, c.table, r.ConnectionID, userID, resource, live, keep); err != nil {
		return err
	}
	r.add(diffs...)
	return nil
}

// compare compares the ids and the fields the caller chose; finish the
// result once every check added its differences.
func compare(tableName string, connectionID int64, want, got map[string]string) Result {
	r := Result{Table: tableName, ConnectionID: connectionID, Truth: len(want), Rows: len(got)}
	var diffs []string
	for id, w := range want {
		if g, ok := got[id]; !ok {
			diffs = append(diffs, "missing "+id)
		} else if g != w {
			diffs = append(diffs, fmt.Sprintf("%s: stored %q, truth %q", id, g, w))
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			diffs = append(diffs, "extra "+id)
		}
	}
	r.add(diffs...)
	return r
}

// Func compares one user's synced rows of a resource with the ground truth.
type Func func(ctx context.Context, pool *pgxpool.Pool, emulatorURL string, connectionID int64, userID string) ([]Result, error)

// byResource names the comparison of every resource graphsync syncs.
var byResource = map[string]Func{
	"mail":     Mail,
	"calendar": Calendar,
	"drive":    Drive,
	"chats":    Chats,
	"channels": Channels,
	"people":   People,
	"contacts": Contacts,
	"groups":   Groups,
	"sites":    recordedSites,
}

// Resource compares one user's rows of the named resource with the truth.
func Resource(ctx context.Context, pool *pgxpool.Pool, emulatorURL string, connectionID int64, userID, resource string) ([]Result, error) {
	fn, ok := byResource[resource]
	if !ok {
		return nil, fmt.Errorf("verify: no comparison for resource %q", resource)
	}
	return fn(ctx, pool, emulatorURL, connectionID, userID)
}
