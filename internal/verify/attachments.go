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

// Attachments compares a user's live mail attachments with the truth: the
// attachments of the messages graphsync reads them for (hasAttachments, or
// an inline image named in the body: graphsync.Details.Wanted), with the
// same ids, messages, names, sizes and kinds, nothing extra, and every
// column of every row (see rowCheck); and every stored content against
// the truth's length and SHA-256 of $value.
func Attachments(ctx context.Context, pool *pgxpool.Pool, emulatorURL string, connectionID int64, userID string) (Result, error) {
	details := graphsync.Mail.Items().Details
	messages, err := Truth(ctx, emulatorURL, userID, "messages")
	if err != nil {
		return Result{}, err
	}
	wanted := map[string]bool{}
	for _, raw := range messages {
		if id, ok := graphsync.ID(raw); ok && details.Wanted(raw) {
			wanted[id] = true
		}
	}
	all, err := Truth(ctx, emulatorURL, userID, "attachments")
	if err != nil {
		return Result{}, err
	}
	type content struct {
		length int64
		sha    string
	}
	var truth []json.RawMessage
	var messageOf []string
	want := map[string]string{}
	contents := map[string]content{}
	for _, raw := range all {
		var o struct {
			ID        string `json:"id"`
			Name      string `json:"name"`
			Size      int64  `json:"size"`
			Type      string `json:"@odata.type"`
			MessageID string `json:"@emulator.messageId"`
			Length    *int64 `json:"@emulator.contentLength"`
			SHA256    string `json:"@emulator.contentSha256"`
		}
		if err := json.Unmarshal(raw, &o); err != nil {
			return Result{}, fmt.Errorf("decode ground truth of attachments: %w", err)
		}
		if !wanted[o.MessageID] {
			continue
		}
		want[o.ID] = fmt.Sprintf("%s|%s|%d|%s", o.MessageID, store.CleanText(o.Name), o.Size, o.Type)
		if o.Length != nil {
			contents[o.ID] = content{*o.Length, o.SHA256}
		}
		// As Graph serves it: without the emulator's annotations.
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return Result{}, fmt.Errorf("decode ground truth of attachments: %w", err)
		}
		for k := range m {
			if strings.HasPrefix(k, "@emulator.") {
				delete(m, k)
			}
		}
		clean, _ := json.Marshal(m)
		truth = append(truth, clean)
		messageOf = append(messageOf, o.MessageID)
	}
	rows, err := pool.Query(ctx, `SELECT id, coalesce(message_id, ''), coalesce(name, ''), coalesce(size, 0), coalesce(raw->>'@odata.type', ''),
		content_length, coalesce(content_sha256, ''),
		kind IS DISTINCT FROM 'item' OR (item_type IN ('message', 'event') AND raw->'item'->>'@odata.type' = '#microsoft.graph.' || item_type)
		FROM mail_attachments WHERE connection_id = $1 AND user_id = $2 AND deleted_at IS NULL`, connectionID, userID)
	if err != nil {
		return Result{}, fmt.Errorf("read mail_attachments: %w", err)
	}
	got := map[string]string{}
	var diffs []string
	for rows.Next() {
		var id, msg, name, typ, sha string
		var size int64
		var length *int64
		var itemOK bool
		if err := rows.Scan(&id, &msg, &name, &size, &typ, &length, &sha, &itemOK); err != nil {
			rows.Close()
			return Result{}, fmt.Errorf("read mail_attachments: %w", err)
		}
		if !itemOK {
			diffs = append(diffs, id+": an item attachment without its expanded message or event")
		}
		got[id] = fmt.Sprintf("%s|%s|%d|%s", msg, name, size, typ)
		if c, ok := contents[id]; ok && sha != "" && (length == nil || *length != c.length || sha != c.sha) {
			diffs = append(diffs, fmt.Sprintf("%s: content stored differs from $value (length %v, sha256 %s; truth %d, %s)", id, length, sha, c.length, c.sha))
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Result{}, fmt.Errorf("read mail_attachments: %w", err)
	}
	r := compare("mail_attachments", connectionID, want, got)
	r.add(diffs...)
	// The truth leaves an item attachment's item out, which graphsync
	// expands: its type is checked on its own.
	check := rowCheck{table: details.Table, ignore: []string{"item_type"}, extra: []string{"item", "item@odata.context"},
		context: func(i int, _ json.RawMessage) graphsync.MapContext {
			return graphsync.MapContext{User: userID, Container: messageOf[i]}
		}}
	if err := r.deep(ctx, pool, emulatorURL, check, userID, "", truth, want, nil); err != nil {
		return Result{}, err
	}
	return r.finish(), nil
}

// StoredContents counts a connection's attachments whose content is
// stored, for checks that content was kept at all.
func StoredContents(ctx context.Context, pool *pgxpool.Pool, connectionID int64) (int, error) {
	var n int
	err := pool.QueryRow(ctx, `SELECT count(*) FROM mail_attachments WHERE connection_id = $1 AND content_sha256 IS NOT NULL`, connectionID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count stored contents: %w", err)
	}
	return n, nil
}
