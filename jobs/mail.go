package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

// mailParallelFolders is how many folders of one mailbox sync at once; the
// Graph client caps requests in flight per mailbox on top of it.
const mailParallelFolders = 4

func init() { register("mail", syncMail) }

// syncMail syncs the folder hierarchy through mailFolders/delta, then every
// live folder's messages through its own messages/delta.
func syncMail(ctx context.Context, r *run) error {
	return r.syncFolderTree(ctx, folderTree{
		foldersPath:  "/mailFolders/delta",
		applyFolders: r.applyFolders,
		retireFolders: func(ctx context.Context, tx pgx.Tx, since time.Time) (int64, error) {
			return r.svc.store.RetireUnseenMailFoldersTx(ctx, tx, r.conn.ID, r.userID, since)
		},
		folders: func(ctx context.Context) ([]string, error) {
			return r.svc.store.LiveMailFolders(ctx, r.conn.ID, r.userID)
		},
		parallel:   mailParallelFolders,
		syncFolder: r.syncFolder,
	})
}

// pendingStreams drops the streams that completed a round during this pass,
// so that a job resumed after a snooze goes on where it stopped instead of
// spending its request budget on streams it already brought up to date:
// with more streams than one throttling window allows requests, it would
// otherwise never reach the last ones.
func (r *run) pendingStreams(ctx context.Context, names []string) ([]string, error) {
	if r.passStart.IsZero() {
		return names, nil
	}
	states := r.states
	if states == nil {
		all, err := r.svc.store.StreamStates(ctx, r.conn.ID, r.streamPrefix())
		if err != nil {
			return nil, err
		}
		states = byStream(all)
	}
	out := names[:0:0]
	for _, n := range names {
		st := states[r.stream(n)]
		if st == nil || st.NextLink != "" || st.DeltaLink == "" || st.LastSuccessAt == nil || st.LastSuccessAt.Before(r.passStart) {
			out = append(out, n)
		}
	}
	return out, nil
}

func (r *run) syncFolder(ctx context.Context, folderID string) error {
	st := r.stream(folderID)
	return r.runDelta(ctx, deltaStream{
		stream:  st,
		initial: r.userPath() + "/mailFolders/" + url.PathEscape(folderID) + "/messages/delta",
		service: graphsync.ServiceOutlook,
		apply: func(ctx context.Context, tx pgx.Tx, items []json.RawMessage, seen *time.Time) (store.Progress, error) {
			return r.applyMessages(ctx, tx, st, folderID, items, seen)
		},
		retire: func(ctx context.Context, tx pgx.Tx, since time.Time) (int64, error) {
			return r.svc.store.RetireUnseenMailMessagesTx(ctx, tx, r.conn.ID, folderID, since)
		},
	})
}

func (r *run) applyFolders(ctx context.Context, tx pgx.Tx, st store.Stream, items []json.RawMessage, seen *time.Time) (store.Progress, error) {
	var p store.Progress
	entries, stored, err := r.preparePage(ctx, tx, st, "mail folder", "mail_folders", folderComplete, items)
	if err != nil {
		return p, err
	}
	rows, removed, err := pageRows(ctx, r, tx, st, entries, stored, func(raw []byte) (store.MailFolder, error) {
		f, err := graphsync.DecodeMailFolder(raw)
		return store.MailFolder{ID: f.ID, UserID: r.userID, DisplayName: f.DisplayName,
			ParentFolderID: f.ParentFolderID, ChildFolderCount: i32(f.ChildFolderCount), UnreadItemCount: i32(f.UnreadItemCount),
			TotalItemCount: i32(f.TotalItemCount), IsHidden: &f.IsHidden, Raw: raw}, err
	})
	if err != nil {
		return p, err
	}
	n, err := r.svc.store.DeleteMailFoldersTx(ctx, tx, r.conn.ID, removed)
	if err != nil {
		return p, err
	}
	u, err := r.svc.store.UpsertMailFoldersTx(ctx, tx, r.conn.ID, rows, seen)
	if err != nil {
		return p, err
	}
	return r.written(u, n), nil
}

// folderComplete tells a full mail folder from a partial update: every full
// folder carries parentFolderId (the root's names msgfolderroot's parent).
var folderComplete = []byte(`"parentFolderId"`)

// preparePage folds a page's entries, quarantines those without an id, and
// reads the stored objects that partial updates among them merge into.
func (r *run) preparePage(ctx context.Context, tx pgx.Tx, st store.Stream, kind, tableName string, complete []byte, items []json.RawMessage) ([]entry, map[string][]byte, error) {
	entries, noID := foldPage(items)
	for _, raw := range noID {
		if err := r.quarantine(ctx, tx, st, "", noIDReason(kind, raw), raw); err != nil {
			return nil, nil, err
		}
	}
	stored, err := r.storedForPartial(ctx, tx, tableName, entries, complete)
	if err != nil {
		return nil, nil, err
	}
	return entries, stored, nil
}

// storedForPartial reads the stored raw JSON of the entries that lack the
// marker key every full object carries, so partial updates can be merged.
func (r *run) storedForPartial(ctx context.Context, tx pgx.Tx, tableName string, entries []entry, complete []byte) (map[string][]byte, error) {
	var partial []string
	for _, e := range entries {
		if !e.removed && !bytes.Contains(e.raw, complete) {
			partial = append(partial, e.id)
		}
	}
	if len(partial) == 0 {
		return nil, nil
	}
	return r.svc.store.Raws(ctx, tx, tableName, r.conn.ID, partial)
}

// mergePartial lays a partial entry over its stored object; ok is false when
// the entry was quarantined instead.
func (r *run) mergePartial(ctx context.Context, tx pgx.Tx, st store.Stream, e entry, stored map[string][]byte) (raw []byte, ok bool, err error) {
	old, found := stored[e.id]
	if !found {
		return e.raw, true, nil
	}
	merged, merr := mergeJSON(old, e.raw)
	if merr != nil {
		return nil, false, r.quarantine(ctx, tx, st, e.id, fmt.Errorf("merge partial update: %w", merr), e.raw)
	}
	return merged, true, nil
}

// messageComplete tells a full message from a partial update: every full
// message carries receivedDateTime, and a key cannot occur unescaped inside a
// JSON string value.
var messageComplete = []byte(`"receivedDateTime"`)

func (r *run) applyMessages(ctx context.Context, tx pgx.Tx, st store.Stream, folderID string, items []json.RawMessage, seen *time.Time) (store.Progress, error) {
	var p store.Progress
	entries, stored, err := r.preparePage(ctx, tx, st, "message", "mail_messages", messageComplete, items)
	if err != nil {
		return p, err
	}
	rows, removed, err := pageRows(ctx, r, tx, st, entries, stored, func(raw []byte) (store.MailMessage, error) {
		m, err := graphsync.DecodeMessage(raw)
		if err != nil {
			return store.MailMessage{}, err
		}
		if m.ParentFolderID == "" {
			m.ParentFolderID = folderID
		}
		return normalizeMessage(r.userID, &m, raw), nil
	})
	if err != nil {
		return p, err
	}
	n, err := r.svc.store.DeleteMailMessagesTx(ctx, tx, r.conn.ID, folderID, removed)
	if err != nil {
		return p, err
	}
	u, err := r.svc.store.UpsertMailMessagesTx(ctx, tx, r.conn.ID, rows, seen)
	if err != nil {
		return p, err
	}
	return r.written(u, n), nil
}

func normalizeMessage(userID string, m *graphsync.Message, raw []byte) store.MailMessage {
	row := store.MailMessage{
		ID: m.ID, UserID: userID, FolderID: m.ParentFolderID, Subject: m.Subject,
		ToAddresses: addresses(m.ToRecipients), CcAddresses: addresses(m.CcRecipients), BccAddresses: addresses(m.BccRecipients),
		ReceivedAt: m.ReceivedDateTime, SentAt: m.SentDateTime, CreatedAt: m.CreatedDateTime, LastModifiedAt: m.LastModifiedDateTime,
		IsRead: &m.IsRead, IsDraft: &m.IsDraft, Importance: m.Importance, HasAttachments: &m.HasAttachments,
		ConversationID: m.ConversationID, InternetMessageID: m.InternetMessageID, BodyPreview: m.BodyPreview,
		Categories: m.Categories, InferenceClassification: m.InferenceClassification, WebLink: m.WebLink, Raw: raw,
	}
	if m.From != nil {
		row.FromAddress = strings.ToLower(m.From.EmailAddress.Address)
		row.FromName = m.From.EmailAddress.Name
	}
	if m.Sender != nil {
		row.SenderAddress = strings.ToLower(m.Sender.EmailAddress.Address)
	}
	if m.Body != nil {
		row.BodyContentType = strings.ToLower(m.Body.ContentType)
	}
	if m.Flag != nil {
		row.FlagStatus = m.Flag.FlagStatus
	}
	return row
}

func addresses(rs []graphsync.Recipient) []string {
	if len(rs) == 0 {
		return nil
	}
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		if a := strings.ToLower(strings.TrimSpace(r.EmailAddress.Address)); a != "" {
			out = append(out, a)
		}
	}
	return out
}

func i32(v int) *int32 {
	x := int32(v)
	return &x
}
