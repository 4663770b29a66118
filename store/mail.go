package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// MailFolder is a row of mail_folders.
type MailFolder struct {
	ID               string
	UserID           string
	DisplayName      string
	ParentFolderID   string
	ChildFolderCount *int32
	UnreadItemCount  *int32
	TotalItemCount   *int32
	IsHidden         *bool
	Raw              []byte
}

// MailMessage is a row of mail_messages.
type MailMessage struct {
	ID                      string
	UserID                  string
	FolderID                string
	Subject                 string
	FromAddress             string
	FromName                string
	SenderAddress           string
	ToAddresses             []string
	CcAddresses             []string
	BccAddresses            []string
	ReceivedAt              time.Time
	SentAt                  time.Time
	CreatedAt               time.Time
	LastModifiedAt          time.Time
	IsRead                  *bool
	IsDraft                 *bool
	Importance              string
	HasAttachments          *bool
	ConversationID          string
	InternetMessageID       string
	BodyPreview             string
	BodyContentType         string
	Categories              []string
	FlagStatus              string
	InferenceClassification string
	WebLink                 string
	Raw                     []byte
}

var mailFoldersTable = syncedTable("mail_folders",
	"connection_id", "id", "user_id", "display_name", "parent_folder_id", "child_folder_count",
	"unread_item_count", "total_item_count", "is_hidden", "raw", "seen_at")

var mailMessagesTable = syncedTable("mail_messages",
	"connection_id", "id", "user_id", "folder_id", "subject", "from_address", "from_name", "sender_address",
	"to_addresses", "cc_addresses", "bcc_addresses", "received_at", "sent_at", "created_at", "last_modified_at",
	"is_read", "is_draft", "importance", "has_attachments", "conversation_id", "internet_message_id",
	"body_preview", "body_content_type", "categories", "flag_status", "inference_classification", "web_link",
	"raw", "seen_at")

// UpsertMailFoldersTx writes folders; seenAt, when set, marks them seen by a
// full enumeration.
func (s *Store) UpsertMailFoldersTx(ctx context.Context, tx pgx.Tx, connectionID int64, fs []MailFolder, seenAt *time.Time) (int64, error) {
	rows := make([][]any, len(fs))
	for i, f := range fs {
		rows[i] = []any{connectionID, CleanText(f.ID), CleanText(f.UserID), textOrNil(f.DisplayName), textOrNil(f.ParentFolderID),
			f.ChildFolderCount, f.UnreadItemCount, f.TotalItemCount, f.IsHidden, CleanJSON(f.Raw), seenAt}
	}
	return upsertTx(ctx, tx, mailFoldersTable, rows)
}

// UpsertMailMessagesTx writes messages; seenAt, when set, marks them seen by
// a full enumeration.
func (s *Store) UpsertMailMessagesTx(ctx context.Context, tx pgx.Tx, connectionID int64, ms []MailMessage, seenAt *time.Time) (int64, error) {
	rows := make([][]any, len(ms))
	for i := range ms {
		m := &ms[i]
		rows[i] = []any{connectionID, CleanText(m.ID), CleanText(m.UserID), textOrNil(m.FolderID), textOrNil(m.Subject),
			textOrNil(m.FromAddress), textOrNil(m.FromName), textOrNil(m.SenderAddress),
			cleanAll(m.ToAddresses), cleanAll(m.CcAddresses), cleanAll(m.BccAddresses),
			timeOrNil(m.ReceivedAt), timeOrNil(m.SentAt), timeOrNil(m.CreatedAt), timeOrNil(m.LastModifiedAt),
			m.IsRead, m.IsDraft, textOrNil(m.Importance), m.HasAttachments, textOrNil(m.ConversationID),
			textOrNil(m.InternetMessageID), textOrNil(m.BodyPreview), textOrNil(m.BodyContentType), cleanAll(m.Categories),
			textOrNil(m.FlagStatus), textOrNil(m.InferenceClassification), textOrNil(m.WebLink), CleanJSON(m.Raw), seenAt}
	}
	return upsertTx(ctx, tx, mailMessagesTable, rows)
}

// DeleteMailFoldersTx soft-deletes folders and retires the messages they held.
func (s *Store) DeleteMailFoldersTx(ctx context.Context, tx pgx.Tx, connectionID int64, ids []string) (int64, error) {
	n, err := softDeleteTx(ctx, tx, "mail_folders", connectionID, ids, "")
	if err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, `UPDATE mail_messages SET deleted_at = now(), synced_at = now()
		WHERE connection_id = $1 AND folder_id = ANY($2) AND deleted_at IS NULL`, connectionID, cleanAll(ids)); err != nil {
		return 0, fmt.Errorf("retire messages of deleted folders: %w", err)
	}
	return n, nil
}

// DeleteMailMessagesTx soft-deletes messages that folderID reported removed.
// A message that has meanwhile been stored under another folder moved there
// and stays live, whichever folder is synced first.
func (s *Store) DeleteMailMessagesTx(ctx context.Context, tx pgx.Tx, connectionID int64, folderID string, ids []string) (int64, error) {
	return softDeleteTx(ctx, tx, "mail_messages", connectionID, ids, "folder_id IS NOT DISTINCT FROM $3", textOrNil(folderID))
}

// RetireUnseenMailMessagesTx soft-deletes the messages of a folder that a
// full enumeration begun at since did not see.
func (s *Store) RetireUnseenMailMessagesTx(ctx context.Context, tx pgx.Tx, connectionID int64, folderID string, since time.Time) (int64, error) {
	tag, err := tx.Exec(ctx, `UPDATE mail_messages SET deleted_at = now(), synced_at = now()
		WHERE connection_id = $1 AND folder_id = $2 AND deleted_at IS NULL AND (seen_at IS NULL OR seen_at < $3)`,
		connectionID, CleanText(folderID), since)
	if err != nil {
		return 0, fmt.Errorf("retire unseen messages of folder %s: %w", folderID, err)
	}
	return tag.RowsAffected(), nil
}

// RetireUnseenMailFoldersTx soft-deletes the folders (and their messages)
// of a mailbox that a full enumeration begun at since did not see.
func (s *Store) RetireUnseenMailFoldersTx(ctx context.Context, tx pgx.Tx, connectionID int64, userID string, since time.Time) (int64, error) {
	rows, err := tx.Query(ctx, `SELECT id FROM mail_folders WHERE connection_id = $1 AND user_id = $2 AND deleted_at IS NULL
		AND (seen_at IS NULL OR seen_at < $3)`, connectionID, CleanText(userID), since)
	if err != nil {
		return 0, fmt.Errorf("retire unseen folders: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, fmt.Errorf("retire unseen folders: %w", err)
	}
	return s.DeleteMailFoldersTx(ctx, tx, connectionID, ids)
}

// Raws returns the stored raw JSON of a synced table's rows by id, so
// partial delta updates can be merged into what is known.
func (s *Store) Raws(ctx context.Context, q Querier, tableName string, connectionID int64, ids []string) (map[string][]byte, error) {
	if _, ok := syncedTables[tableName]; !ok {
		return nil, fmt.Errorf("read stored rows: %q is not a synced table", tableName)
	}
	return raws(ctx, q, tableName, connectionID, ids)
}

// LiveMailFolders returns the ids of a mailbox's folders that are not deleted.
func (s *Store) LiveMailFolders(ctx context.Context, connectionID int64, userID string) ([]string, error) {
	rows, err := s.pool.Query(ctx, "SELECT id FROM mail_folders WHERE connection_id = $1 AND user_id = $2 AND deleted_at IS NULL ORDER BY id",
		connectionID, userID)
	if err != nil {
		return nil, fmt.Errorf("list live mail folders: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

func raws(ctx context.Context, q Querier, tableName string, connectionID int64, ids []string) (map[string][]byte, error) {
	out := make(map[string][]byte, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := q.Query(ctx, "SELECT id, raw FROM "+tableName+" WHERE connection_id = $1 AND id = ANY($2)", connectionID, cleanAll(ids))
	if err != nil {
		return nil, fmt.Errorf("read stored %s: %w", tableName, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var raw []byte
		if err := rows.Scan(&id, &raw); err != nil {
			return nil, fmt.Errorf("read stored %s: %w", tableName, err)
		}
		out[id] = raw
	}
	return out, rows.Err()
}
