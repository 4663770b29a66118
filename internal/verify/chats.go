package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

// Chats compares a user's live chats (with their members) and the messages
// of those chats with the truth: the same chats, topics, last update times
// and member user ids; the same messages (keyed by chat and id) with their
// lastModifiedDateTime, body and deletion state; nothing extra; and every
// column of every row (see rowCheck).
func Chats(ctx context.Context, pool *pgxpool.Pool, emulatorURL string, connectionID int64, userID string) ([]Result, error) {
	truth, err := Truth(ctx, emulatorURL, userID, "chats")
	if err != nil {
		return nil, err
	}
	want := map[string]string{}
	for _, raw := range truth {
		var c struct {
			ID          string    `json:"id"`
			Topic       string    `json:"topic"`
			LastUpdated time.Time `json:"lastUpdatedDateTime"`
			Members     []struct {
				UserID string `json:"userId"`
			} `json:"members"`
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("decode ground truth of chats: %w", err)
		}
		var ids []string
		for _, m := range c.Members {
			ids = append(ids, m.UserID)
		}
		sort.Strings(ids)
		want[c.ID] = fmt.Sprintf("%s|%s|%s", store.CleanText(c.Topic), c.LastUpdated.UTC().Format(time.RFC3339Nano), strings.Join(ids, ","))
	}
	// A chat is the user's when the user is among its stored members: an
	// application connection stores a chat shared by two users once.
	got := map[string]string{}
	members := map[string][]string{}
	rows, err := pool.Query(ctx, `SELECT c.id, coalesce(c.topic, ''), c.last_updated_at, coalesce(m.user_id, '')
		FROM chats c JOIN chat_members m ON m.connection_id = c.connection_id AND m.chat_id = c.id
		WHERE c.connection_id = $1 AND c.deleted_at IS NULL
			AND EXISTS (SELECT 1 FROM chat_members u WHERE u.connection_id = c.connection_id AND u.chat_id = c.id AND u.user_id = $2)`,
		connectionID, userID)
	if err != nil {
		return nil, fmt.Errorf("read chats: %w", err)
	}
	for rows.Next() {
		var id, topic, member string
		var updated *time.Time
		if err := rows.Scan(&id, &topic, &updated, &member); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read chats: %w", err)
		}
		u := ""
		if updated != nil {
			u = updated.UTC().Format(time.RFC3339Nano)
		}
		got[id] = topic + "|" + u
		members[id] = append(members[id], member)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read chats: %w", err)
	}
	for id, ms := range members {
		sort.Strings(ms)
		got[id] += "|" + strings.Join(ms, ",")
	}
	r := compare("chats", connectionID, want, got)
	// A chat is stored once per connection, under the member who synced it
	// first: its user_id names that member.
	c := rowCheck{table: graphsync.Chats.Folders(), ignore: []string{"user_id"}, scope: userChats}
	if err := r.deep(ctx, pool, emulatorURL, c, userID, "", truth, want, nil); err != nil {
		return nil, err
	}
	out := []Result{r.finish()}

	msgs, err := Truth(ctx, emulatorURL, userID, "chatMessages")
	if err != nil {
		return nil, err
	}
	want = map[string]string{}
	for _, raw := range msgs {
		var m struct {
			ID       string    `json:"id"`
			ChatID   string    `json:"chatId"`
			Modified time.Time `json:"lastModifiedDateTime"`
			Deleted  *string   `json:"deletedDateTime"`
			Body     struct {
				Content string `json:"content"`
			} `json:"body"`
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("decode ground truth of chatMessages: %w", err)
		}
		want[m.ChatID+"/"+m.ID] = fmt.Sprintf("%s|%t|%s", m.Modified.UTC().Format(time.RFC3339Nano), m.Deleted != nil,
			store.CleanText(m.Body.Content))
	}
	got = map[string]string{}
	rows, err = pool.Query(ctx, `SELECT m.chat_id, m.id, m.last_modified_at, m.deleted_at IS NOT NULL, coalesce(m.body_content, '')
		FROM chat_messages m JOIN chats c ON c.connection_id = m.connection_id AND c.id = m.chat_id
		WHERE m.connection_id = $1 AND c.deleted_at IS NULL
			AND EXISTS (SELECT 1 FROM chat_members u WHERE u.connection_id = c.connection_id AND u.chat_id = c.id AND u.user_id = $2)`,
		connectionID, userID)
	if err != nil {
		return nil, fmt.Errorf("read chat messages: %w", err)
	}
	for rows.Next() {
		var chatID, id, body string
		var modified *time.Time
		var deleted bool
		if err := rows.Scan(&chatID, &id, &modified, &deleted, &body); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read chat messages: %w", err)
		}
		mod := ""
		if modified != nil {
			mod = modified.UTC().Format(time.RFC3339Nano)
		}
		got[chatID+"/"+id] = fmt.Sprintf("%s|%t|%s", mod, deleted, body)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read chat messages: %w", err)
	}
	r = compare("chat_messages", connectionID, want, got)
	c = rowCheck{table: graphsync.Chats.Items(), ignore: []string{"user_id"},
		scope: "EXISTS (SELECT 1 FROM chats WHERE chats.connection_id = chat_messages.connection_id AND chats.id = chat_messages.chat_id AND " + userChats + ")",
		context: func(_ int, raw json.RawMessage) graphsync.MapContext {
			var m struct {
				ChatID string `json:"chatId"`
			}
			_ = json.Unmarshal(raw, &m)
			return graphsync.MapContext{User: userID, Container: m.ChatID}
		}}
	if err := r.deep(ctx, pool, emulatorURL, c, userID, "", msgs, want, nil); err != nil {
		return nil, err
	}
	out = append(out, r.finish())
	return out, nil
}

// userChats selects the user's live chats (the chats table's rows whose
// members include the user $2).
const userChats = `deleted_at IS NULL AND EXISTS (SELECT 1 FROM chat_members u WHERE u.connection_id = chats.connection_id AND u.chat_id = chats.id AND u.user_id = $2)`
