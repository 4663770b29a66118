package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/pgtest"
	"github.com/graphsync/graphsync/store"
)

// chatWith is a group chat of user u1, listed with its members expanded.
func chatWith(t testing.TB, id string, members ...string) graphsync.Row {
	var ms []map[string]any
	for _, m := range members {
		ms = append(ms, map[string]any{"id": "mem-" + m, "userId": m, "displayName": m, "email": strings.ToUpper(m) + "@Contoso.test"})
	}
	return item(t, graphsync.Chats.Folders(), graphsync.MapContext{User: "u1"}, map[string]any{
		"id": id, "chatType": "group", "members": ms})
}

// chatMessage is a message of a chat read by user u1; deleted ones carry
// their deletedDateTime.
func chatMessage(t testing.TB, chat, id, body string, modified time.Time, deleted bool) graphsync.Row {
	m := map[string]any{"id": id, "messageType": "message", "body": map[string]any{"contentType": "text", "content": body},
		"lastModifiedDateTime": modified, "mentions": []any{}}
	if deleted {
		m["deletedDateTime"] = modified
	}
	return item(t, graphsync.Chats.Items(), graphsync.MapContext{User: "u1", Container: chat}, m)
}

func TestChatsAndMembers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.Store(t)
	c := newConnection(t, s, "u1", store.Tokens{AccessToken: "a", RefreshToken: "r"})
	chats := graphsync.Chats.Folders()
	upsertChats := func(cs ...graphsync.Row) int64 { return upsert(t, s, chats, c.ID, cs, nil) }
	members := func(chatID string) string {
		return text(t, s, `SELECT coalesce(string_agg(user_id || ':' || email, ',' ORDER BY user_id), '')
			FROM chat_members WHERE connection_id = $1 AND chat_id = $2`, c.ID, chatID)
	}

	if n := upsertChats(chatWith(t, "c1", "u1", "u2"), chatWith(t, "c2", "u1", "u3")); n != 2 {
		t.Fatalf("first upsert changed %d chats, want 2", n)
	}
	if got := members("c1"); got != "u1:u1@contoso.test,u2:u2@contoso.test" {
		t.Fatalf("members of c1: %q", got)
	}
	// Unchanged chats write nothing, members included.
	var before time.Time
	if err := s.Pool().QueryRow(ctx, "SELECT max(synced_at) FROM chat_members").Scan(&before); err != nil {
		t.Fatal(err)
	}
	if n := upsertChats(chatWith(t, "c1", "u1", "u2"), chatWith(t, "c2", "u1", "u3")); n != 0 {
		t.Fatalf("unchanged upsert changed %d chats", n)
	}
	var after time.Time
	if err := s.Pool().QueryRow(ctx, "SELECT max(synced_at) FROM chat_members").Scan(&after); err != nil {
		t.Fatal(err)
	}
	if !after.Equal(before) {
		t.Fatal("unchanged chats had their members rewritten")
	}
	// A member who left is removed; one who joined is added.
	if n := upsertChats(chatWith(t, "c1", "u1", "u4")); n != 1 {
		t.Fatalf("changed chat: %d rows", n)
	}
	if got := members("c1"); got != "u1:u1@contoso.test,u4:u4@contoso.test" {
		t.Fatalf("members of c1 after a change: %q", got)
	}

	// A chat missing from the user's list is retired with its messages.
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	upsert(t, s, graphsync.Chats.Items(), c.ID, []graphsync.Row{chatMessage(t, "c2", "1", "hi", t0, false),
		chatMessage(t, "c2", "2", "", t0, true)}, nil)
	gone := inTx(t, s, func(ctx context.Context, tx store.Tx) ([]string, error) {
		return s.RetireMissingTx(ctx, tx, chats, c.ID, "u1", []string{"c1"})
	})
	if len(gone) != 1 || gone[0] != "c2" {
		t.Fatalf("retired %v, want [c2]", gone)
	}
	if n := count(t, s, "SELECT count(*) FROM chat_messages WHERE chat_id = 'c2' AND deleted_at IS NULL"); n != 0 {
		t.Fatalf("%d messages of the retired chat still live", n)
	}
	// Listed again, it comes back with its messages, each as Graph last
	// had it: the message deleted in Teams stays deleted, at its own time.
	upsertChats(chatWith(t, "c2", "u1", "u3"))
	if n := count(t, s, "SELECT count(*) FROM chats WHERE deleted_at IS NULL"); n != 2 {
		t.Fatalf("%d live chats, want 2", n)
	}
	if n := count(t, s, "SELECT count(*) FROM chat_messages WHERE chat_id = 'c2' AND id = '1' AND deleted_at IS NULL"); n != 1 {
		t.Fatalf("messages of the relisted chat still retired")
	}
	if n := count(t, s, "SELECT count(*) FROM chat_messages WHERE chat_id = 'c2' AND id = '2' AND deleted_at = $1", t0); n != 1 {
		t.Fatalf("the message deleted in Teams lost its deletedDateTime when its chat came back")
	}
}

func TestChatMessages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.Store(t)
	c := newConnection(t, s, "u1", store.Tokens{AccessToken: "a", RefreshToken: "r"})
	messages := graphsync.Chats.Items()
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	write := func(ms ...graphsync.Row) int64 { return upsert(t, s, messages, c.ID, ms, nil) }
	// Message ids are unique within a chat only.
	if n := write(chatMessage(t, "c1", "100", "hello", t0, false), chatMessage(t, "c1", "101", "bye", t0, false)); n != 2 {
		t.Fatalf("wrote %d, want 2", n)
	}
	if n := write(chatMessage(t, "c2", "100", "other chat", t0.Add(time.Second), false)); n != 1 {
		t.Fatalf("same id in another chat: wrote %d, want 1", n)
	}
	// Re-reading (the watermark overlap) writes nothing.
	if n := write(chatMessage(t, "c1", "100", "hello", t0, false)); n != 0 {
		t.Fatalf("unchanged message rewritten")
	}
	// A deletion keeps the row with deleted_at = deletedDateTime; a
	// repeated id keeps the last occurrence.
	del := t0.Add(time.Minute)
	if n := write(chatMessage(t, "c1", "101", "bye (edited)", t0.Add(30*time.Second), false), chatMessage(t, "c1", "101", "", del, true)); n != 1 {
		t.Fatalf("deletion wrote %d rows", n)
	}
	var deletedAt time.Time
	var body *string
	if err := s.Pool().QueryRow(ctx, "SELECT deleted_at, body_content FROM chat_messages WHERE chat_id = 'c1' AND id = '101'").
		Scan(&deletedAt, &body); err != nil {
		t.Fatal(err)
	}
	if !deletedAt.Equal(del) || body != nil {
		t.Fatalf("deleted message: deleted_at %s body %v", deletedAt, body)
	}
	if text(t, s, "SELECT body_content FROM chat_messages WHERE chat_id = 'c2' AND id = '100'") != "other chat" {
		t.Fatal("a message of one chat overwrote the message of another with the same id")
	}
	watermark := func(chat string) time.Time {
		return inTx(t, s, func(ctx context.Context, tx store.Tx) (time.Time, error) {
			return s.LatestModifiedTx(ctx, tx, messages, stream(c, graphsync.Chats, "u1", chat))
		})
	}
	if wm := watermark("c1"); !wm.Equal(del) {
		t.Fatalf("watermark %s, want %s", wm, del)
	}
	if wm := watermark("none"); !wm.IsZero() {
		t.Fatalf("watermark of an empty chat: %s", wm)
	}
}
