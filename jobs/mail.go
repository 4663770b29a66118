package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

// mailParallelFolders is how many folders of one mailbox sync at once; the
// Graph client caps requests in flight per mailbox on top of it.
const mailParallelFolders = 4

// syncMail syncs the folder hierarchy through mailFolders/delta, then every
// live folder's messages through its own messages/delta.
func syncMail(ctx context.Context, r *run) error {
	folders := store.Stream{ConnectionID: r.conn.ID, Resource: "mail", Name: "folders"}
	err := r.runDelta(ctx, deltaStream{
		stream:  folders,
		initial: r.userPath() + "/mailFolders/delta",
		service: graphsync.ServiceOutlook,
		apply: func(ctx context.Context, tx pgx.Tx, items []json.RawMessage, seen *time.Time) (store.Progress, error) {
			return r.applyFolders(ctx, tx, folders, items, seen)
		},
		retire: func(ctx context.Context, tx pgx.Tx, since time.Time) (int64, error) {
			return r.svc.store.RetireUnseenMailFoldersTx(ctx, tx, r.conn.ID, r.userID, since)
		},
	})
	if err != nil {
		return err
	}
	ids, err := r.svc.store.LiveMailFolders(ctx, r.conn.ID, r.userID)
	if err != nil {
		return err
	}
	// Checkpoints of folders that no longer exist are dropped.
	if err := r.svc.store.DeleteStreamsTx(ctx, r.svc.store.Pool(), r.conn.ID, "mail", append(ids, "folders")); err != nil {
		return err
	}

	if ids, err = r.pendingStreams(ctx, ids); err != nil {
		return err
	}

	sem := make(chan struct{}, mailParallelFolders)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for _, id := range ids {
		mu.Lock()
		stop := firstErr != nil
		mu.Unlock()
		if stop {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(folderID string) {
			defer wg.Done()
			defer func() { <-sem }()
			if err := r.syncFolder(ctx, folderID); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}(id)
	}
	wg.Wait()
	return firstErr
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
	states, err := r.svc.store.SyncStates(ctx, r.conn.ID)
	if err != nil {
		return nil, err
	}
	done := map[string]bool{}
	for _, st := range states {
		if st.Resource == r.resource && st.NextLink == "" && st.DeltaLink != "" &&
			st.LastSuccessAt != nil && !st.LastSuccessAt.Before(r.passStart) {
			done[st.Name] = true
		}
	}
	out := names[:0:0]
	for _, n := range names {
		if !done[n] {
			out = append(out, n)
		}
	}
	return out, nil
}

func (r *run) syncFolder(ctx context.Context, folderID string) error {
	st := store.Stream{ConnectionID: r.conn.ID, Resource: "mail", Name: folderID}
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
	var rows []store.MailFolder
	var removed []string
	for _, e := range entries {
		if e.removed {
			removed = append(removed, e.id)
			continue
		}
		raw, ok, err := r.mergePartial(ctx, tx, st, e, stored)
		if err != nil {
			return p, err
		}
		if !ok {
			continue
		}
		e.raw = raw
		f, err := graphsync.DecodeMailFolder(e.raw)
		if err != nil {
			if err := r.quarantine(ctx, tx, st, e.id, err, e.raw); err != nil {
				return p, err
			}
			continue
		}
		rows = append(rows, store.MailFolder{ID: f.ID, UserID: r.userID, DisplayName: f.DisplayName,
			ParentFolderID: f.ParentFolderID, ChildFolderCount: i32(f.ChildFolderCount), UnreadItemCount: i32(f.UnreadItemCount),
			TotalItemCount: i32(f.TotalItemCount), IsHidden: &f.IsHidden, Raw: e.raw})
	}
	n, err := r.svc.store.DeleteMailFoldersTx(ctx, tx, r.conn.ID, removed)
	if err != nil {
		return p, err
	}
	p.Deleted = int(n)
	u, err := r.svc.store.UpsertMailFoldersTx(ctx, tx, r.conn.ID, rows, seen)
	if err != nil {
		return p, err
	}
	p.Upserted = int(u)
	recordsWritten.WithLabelValues(r.resource, "upserted").Add(float64(u))
	recordsWritten.WithLabelValues(r.resource, "deleted").Add(float64(n))
	return p, nil
}

// folderComplete tells a full mail folder from a partial update: every full
// folder carries parentFolderId (the root's names msgfolderroot's parent).
var folderComplete = []byte(`"parentFolderId"`)

// preparePage folds a page's entries, quarantines those without an id, and
// reads the stored objects that partial updates among them merge into.
func (r *run) preparePage(ctx context.Context, tx pgx.Tx, st store.Stream, kind, tableName string, complete []byte, items []json.RawMessage) ([]entry, map[string][]byte, error) {
	entries, noID := foldPage(items)
	for _, raw := range noID {
		if err := r.quarantine(ctx, tx, st, "", fmt.Errorf("%s without an id", kind), raw); err != nil {
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
	rows := make([]store.MailMessage, 0, len(entries))
	var removed []string
	for _, e := range entries {
		if e.removed {
			removed = append(removed, e.id)
			continue
		}
		raw, ok, err := r.mergePartial(ctx, tx, st, e, stored)
		if err != nil {
			return p, err
		}
		if !ok {
			continue
		}
		m, err := graphsync.DecodeMessage(raw)
		if err != nil {
			if err := r.quarantine(ctx, tx, st, e.id, err, raw); err != nil {
				return p, err
			}
			continue
		}
		if m.ParentFolderID == "" {
			m.ParentFolderID = folderID
		}
		rows = append(rows, normalizeMessage(r.userID, &m, raw))
	}
	n, err := r.svc.store.DeleteMailMessagesTx(ctx, tx, r.conn.ID, folderID, removed)
	if err != nil {
		return p, err
	}
	u, err := r.svc.store.UpsertMailMessagesTx(ctx, tx, r.conn.ID, rows, seen)
	if err != nil {
		return p, err
	}
	p.Deleted, p.Upserted = int(n), int(u)
	recordsWritten.WithLabelValues(r.resource, "upserted").Add(float64(u))
	recordsWritten.WithLabelValues(r.resource, "deleted").Add(float64(n))
	return p, nil
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
