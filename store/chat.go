package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Chat is a row of chats, with the members that replace its chat_members
// rows.
type Chat struct {
	ID            string
	UserID        string
	Topic         string
	ChatType      string
	CreatedAt     time.Time
	LastUpdatedAt time.Time
	WebURL        string
	TenantID      string
	Raw           []byte
	Members       []ChatMember
}

// ChatMember is a row of chat_members.
type ChatMember struct {
	ID                    string
	UserID                string
	DisplayName           string
	Email                 string
	Roles                 []string
	TenantID              string
	VisibleHistoryStartAt time.Time
	Raw                   []byte
}

// ChatMessage is a row of chat_messages.
type ChatMessage struct {
	ChatID          string
	ID              string
	UserID          string
	MessageType     string
	SenderUserID    string
	SenderName      string
	BodyContentType string
	BodyContent     string
	Subject         string
	Importance      string
	ReplyToID       string
	CreatedAt       time.Time
	LastModifiedAt  time.Time
	LastEditedAt    time.Time
	DeletedAt       time.Time // deletedDateTime; zero while the message exists
	Mentions        []byte    // JSON array or nil
	Attachments     []byte    // JSON array or nil
	Raw             []byte
}

var chatsTable = syncedTable("chats",
	"connection_id", "id", "user_id", "topic", "chat_type", "created_at", "last_updated_at", "web_url", "tenant_id",
	"raw", "seen_at")

// UpsertChatsTx writes chats and, for those whose raw JSON changed (members
// are expanded into it), replaces their members. It returns how many chats
// changed.
func (s *Store) UpsertChatsTx(ctx context.Context, tx pgx.Tx, connectionID int64, cs []Chat) (int64, error) {
	if len(cs) == 0 {
		return 0, nil
	}
	ids := make([]string, len(cs))
	texts := make([]string, len(cs))
	rows := make([][]any, 0, len(cs))
	for i, c := range cs {
		raw := CleanJSON(c.Raw)
		ids[i], texts[i] = CleanText(c.ID), string(raw)
		rows = append(rows, []any{connectionID, ids[i], CleanText(c.UserID), textOrNil(c.Topic), textOrNil(c.ChatType),
			timeOrNil(c.CreatedAt), timeOrNil(c.LastUpdatedAt), textOrNil(c.WebURL), textOrNil(c.TenantID), raw, nil})
	}
	// Only chats whose JSON (members expanded into it) changed get their
	// members rewritten, so an idle pass writes nothing.
	changedRows, err := tx.Query(ctx, `SELECT n.id, c.deleted_at IS NOT NULL FROM unnest($2::text[], $3::text[]) AS n(id, raw)
		LEFT JOIN chats c ON c.connection_id = $1 AND c.id = n.id
		WHERE c.raw IS DISTINCT FROM n.raw::jsonb OR c.deleted_at IS NOT NULL`, connectionID, ids, texts)
	if err != nil {
		return 0, fmt.Errorf("compare stored chats: %w", err)
	}
	changed := map[string]bool{}
	var revived []string
	for changedRows.Next() {
		var id string
		var wasDeleted bool
		if err := changedRows.Scan(&id, &wasDeleted); err != nil {
			changedRows.Close()
			return 0, fmt.Errorf("compare stored chats: %w", err)
		}
		changed[id] = true
		if wasDeleted {
			revived = append(revived, id)
		}
	}
	changedRows.Close()
	if err := changedRows.Err(); err != nil {
		return 0, fmt.Errorf("compare stored chats: %w", err)
	}
	// A retired chat listed again (the user rejoined, or another user of an
	// application connection still has it) gets back its messages, each
	// with the deletion state Graph gave it.
	if len(revived) > 0 {
		if _, err := tx.Exec(ctx, `UPDATE chat_messages SET deleted_at = (raw->>'deletedDateTime')::timestamptz, synced_at = now()
			WHERE connection_id = $1 AND chat_id = ANY($2) AND deleted_at IS DISTINCT FROM (raw->>'deletedDateTime')::timestamptz`,
			connectionID, revived); err != nil {
			return 0, fmt.Errorf("restore messages of relisted chats: %w", err)
		}
	}
	n, err := upsertTx(ctx, tx, chatsTable, rows)
	if err != nil {
		return 0, err
	}
	done := map[string]bool{}
	for i := len(cs) - 1; i >= 0; i-- { // the last occurrence of a chat wins, as in upsertTx
		if id := ids[i]; changed[id] && !done[id] {
			done[id] = true
			if err := replaceChatMembersTx(ctx, tx, connectionID, cs[i]); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func replaceChatMembersTx(ctx context.Context, tx pgx.Tx, connectionID int64, c Chat) error {
	chatID := CleanText(c.ID)
	if _, err := tx.Exec(ctx, "DELETE FROM chat_members WHERE connection_id = $1 AND chat_id = $2", connectionID, chatID); err != nil {
		return fmt.Errorf("replace members of chat %s: %w", chatID, err)
	}
	if len(c.Members) == 0 {
		return nil
	}
	var sb strings.Builder
	args := []any{connectionID, chatID}
	sb.WriteString(`INSERT INTO chat_members (connection_id, chat_id, id, user_id, display_name, email, roles, tenant_id,
		visible_history_start_at, raw) VALUES `)
	seen := map[string]bool{}
	first := true
	for _, m := range c.Members {
		id := CleanText(m.ID)
		if seen[id] {
			continue
		}
		seen[id] = true
		if !first {
			sb.WriteString(", ")
		}
		first = false
		sb.WriteString("($1, $2")
		for _, v := range []any{id, textOrNil(m.UserID), textOrNil(m.DisplayName), textOrNil(strings.ToLower(m.Email)),
			cleanAll(m.Roles), textOrNil(m.TenantID), timeOrNil(m.VisibleHistoryStartAt), CleanJSON(m.Raw)} {
			args = append(args, v)
			sb.WriteString(", $" + strconv.Itoa(len(args)))
		}
		sb.WriteByte(')')
	}
	if _, err := tx.Exec(ctx, sb.String(), args...); err != nil {
		return fmt.Errorf("replace members of chat %s: %w", chatID, err)
	}
	return nil
}

// RetireChatsTx soft-deletes the chats last reported by userID that are
// not in keep (the user's whole chat list), with their messages. It returns
// the ids it retired.
func (s *Store) RetireChatsTx(ctx context.Context, tx pgx.Tx, connectionID int64, userID string, keep []string) ([]string, error) {
	rows, err := tx.Query(ctx, `UPDATE chats SET deleted_at = now(), synced_at = now()
		WHERE connection_id = $1 AND user_id = $2 AND deleted_at IS NULL AND NOT id = ANY($3) RETURNING id`,
		connectionID, CleanText(userID), nonNil(cleanAll(keep)))
	if err != nil {
		return nil, fmt.Errorf("retire chats: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("retire chats: %w", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	if _, err := tx.Exec(ctx, `UPDATE chat_messages SET deleted_at = now(), synced_at = now()
		WHERE connection_id = $1 AND chat_id = ANY($2) AND deleted_at IS NULL`, connectionID, ids); err != nil {
		return nil, fmt.Errorf("retire messages of retired chats: %w", err)
	}
	return ids, nil
}

// chatMessageColumns are written in this order; the key is
// (connection_id, chat_id, id) since message ids are unique within a chat
// only.
var chatMessageColumns = []string{"connection_id", "chat_id", "id", "user_id", "message_type", "sender_user_id", "sender_name",
	"body_content_type", "body_content", "subject", "importance", "reply_to_id", "created_at", "last_modified_at",
	"last_edited_at", "deleted_at", "mentions", "attachments", "raw"}

// UpsertChatMessagesTx writes a chat's messages and returns how many rows
// changed. A deleted message keeps its row, with deleted_at set to its
// deletedDateTime. Rows whose raw JSON is unchanged are left alone; a
// message repeated in ms keeps its last occurrence.
func (s *Store) UpsertChatMessagesTx(ctx context.Context, tx pgx.Tx, connectionID int64, chatID string, ms []ChatMessage) (int64, error) {
	last := map[string]int{}
	for i, m := range ms {
		last[CleanText(m.ID)] = i
	}
	if len(last) == 0 {
		return 0, nil
	}
	var sb strings.Builder
	sb.WriteString("INSERT INTO chat_messages (" + strings.Join(chatMessageColumns, ", ") + ") VALUES ")
	args := []any{connectionID, CleanText(chatID)}
	first := true
	for i, m := range ms {
		id := CleanText(m.ID)
		if last[id] != i {
			continue
		}
		if !first {
			sb.WriteString(", ")
		}
		first = false
		sb.WriteString("($1, $2")
		for _, v := range []any{id, CleanText(m.UserID), textOrNil(m.MessageType), textOrNil(m.SenderUserID), textOrNil(m.SenderName),
			textOrNil(m.BodyContentType), textOrNil(m.BodyContent), textOrNil(m.Subject), textOrNil(m.Importance), textOrNil(m.ReplyToID),
			timeOrNil(m.CreatedAt), timeOrNil(m.LastModifiedAt), timeOrNil(m.LastEditedAt), timeOrNil(m.DeletedAt),
			arrayOrNil(m.Mentions), arrayOrNil(m.Attachments), CleanJSON(m.Raw)} {
			args = append(args, v)
			sb.WriteString(", $" + strconv.Itoa(len(args)))
		}
		sb.WriteByte(')')
	}
	var sets []string
	for _, c := range chatMessageColumns[3:] {
		sets = append(sets, c+" = EXCLUDED."+c)
	}
	sb.WriteString(" ON CONFLICT (connection_id, chat_id, id) DO UPDATE SET " + strings.Join(sets, ", ") +
		", synced_at = now() WHERE chat_messages.raw IS DISTINCT FROM EXCLUDED.raw" +
		" OR chat_messages.deleted_at IS DISTINCT FROM EXCLUDED.deleted_at")
	tag, err := tx.Exec(ctx, sb.String(), args...)
	if err != nil {
		return 0, fmt.Errorf("upsert messages of chat %s: %w", chatID, err)
	}
	return tag.RowsAffected(), nil
}

// ChatMessagesWatermark returns the latest lastModifiedDateTime stored for
// a chat's messages (zero when none): every stored message was read from
// Graph, so Graph has nothing older than it that graphsync has not seen
// once a listing down to it is complete.
func (s *Store) ChatMessagesWatermark(ctx context.Context, q Querier, connectionID int64, chatID string) (time.Time, error) {
	var t *time.Time
	err := q.QueryRow(ctx, "SELECT max(last_modified_at) FROM chat_messages WHERE connection_id = $1 AND chat_id = $2",
		connectionID, CleanText(chatID)).Scan(&t)
	if err != nil {
		return time.Time{}, fmt.Errorf("read watermark of chat %s: %w", chatID, err)
	}
	if t == nil {
		return time.Time{}, nil
	}
	return *t, nil
}

func arrayOrNil(b []byte) any {
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	return CleanJSON(b)
}
