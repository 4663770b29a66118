// Package verify compares graphsync's tables with the emulator's ground
// truth, for the demo, the chaos run and the end-to-end tests.
package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/graphsync/graphsync/store"
)

// Truth reads the emulator's ground truth of one user's resource over its
// control plane, with immutable ids as graphsync requests them.
func Truth(ctx context.Context, emulatorURL, userID, resource string) ([]json.RawMessage, error) {
	var out []json.RawMessage
	err := EachTruth(ctx, emulatorURL, userID, resource, nil, func(raw json.RawMessage) error {
		out = append(out, raw)
		return nil
	})
	return out, err
}

// EachTruth reads the ground truth as Truth does, one object at a time:
// fn gets each, with only the fields named (and id) when fields is not
// empty, so that a large mailbox is never held whole.
func EachTruth(ctx context.Context, emulatorURL, userID, resource string, fields []string, fn func(json.RawMessage) error) error {
	q := url.Values{"idType": {"ImmutableId"}}
	if len(fields) > 0 {
		q.Set("select", strings.Join(fields, ","))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		emulatorURL+"/_emulator/truth/"+url.PathEscape(userID)+"/"+resource+"?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		return fmt.Errorf("read ground truth of %s: %w", resource, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("read ground truth of %s: %s", resource, resp.Status)
	}
	dec := json.NewDecoder(resp.Body)
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return fmt.Errorf("read ground truth of %s: not a JSON array (%v)", resource, err)
	}
	for dec.More() {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("read ground truth of %s: %w", resource, err)
		}
		if err := fn(raw); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("read ground truth of %s: %w", resource, err)
	}
	return nil
}

// Result is the outcome of one comparison.
type Result struct {
	Table        string
	ConnectionID int64
	Truth, Rows  int
	Diffs        []string // at most 20, then a count
}

// Mail compares a connection's live mail folders and messages with the
// truth: the same ids, parent folders, subjects (display names) and read
// state, and nothing extra.
func Mail(ctx context.Context, pool *pgxpool.Pool, emulatorURL string, connectionID int64, userID string) ([]Result, error) {
	var out []Result
	for _, k := range []struct{ resource, table, folder string }{
		{"mailFolders", "mail_folders", "coalesce(parent_folder_id, '')"},
		{"messages", "mail_messages", "coalesce(folder_id, '')"},
	} {
		// A mailbox's messages are streamed with the compared fields only:
		// their bodies would hold hundreds of megabytes.
		want := map[string]string{}
		err := EachTruth(ctx, emulatorURL, userID, k.resource, []string{"parentFolderId", "subject", "displayName", "isRead"},
			func(raw json.RawMessage) error {
				var o struct {
					ID             string `json:"id"`
					ParentFolderID string `json:"parentFolderId"`
					Subject        string `json:"subject"`
					DisplayName    string `json:"displayName"`
					IsRead         bool   `json:"isRead"`
				}
				if err := json.Unmarshal(raw, &o); err != nil {
					return fmt.Errorf("decode ground truth of %s: %w", k.resource, err)
				}
				want[o.ID] = fmt.Sprintf("%s|%s|%t", o.ParentFolderID, store.CleanText(o.Subject+o.DisplayName), o.IsRead)
				return nil
			})
		if err != nil {
			return nil, err
		}
		rows, err := pool.Query(ctx, fmt.Sprintf(`SELECT id, %s, coalesce(raw->>'subject', '') || coalesce(raw->>'displayName', ''),
			coalesce((raw->>'isRead')::boolean, false) FROM %s WHERE connection_id = $1 AND user_id = $2 AND deleted_at IS NULL`, k.folder, k.table), connectionID, userID)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", k.table, err)
		}
		got := map[string]string{}
		for rows.Next() {
			var id, folder, subject string
			var isRead bool
			if err := rows.Scan(&id, &folder, &subject, &isRead); err != nil {
				rows.Close()
				return nil, err
			}
			got[id] = fmt.Sprintf("%s|%s|%t", folder, subject, isRead)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		out = append(out, compare(k.table, connectionID, want, got))
	}
	return out, nil
}

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
	sort.Strings(diffs)
	if len(diffs) > 20 {
		diffs = append(diffs[:20], fmt.Sprintf("… and %d more", len(diffs)-20))
	}
	r.Diffs = diffs
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
	"people":   People,
	"contacts": Contacts,
}

// Resource compares one user's rows of the named resource with the truth.
func Resource(ctx context.Context, pool *pgxpool.Pool, emulatorURL string, connectionID int64, userID, resource string) ([]Result, error) {
	fn, ok := byResource[resource]
	if !ok {
		return nil, fmt.Errorf("verify: no comparison for resource %q", resource)
	}
	return fn(ctx, pool, emulatorURL, connectionID, userID)
}
