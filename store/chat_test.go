package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/graphsync/graphsync/internal/pgtest"
	"github.com/graphsync/graphsync/store"
)

func chatWith(id string, members ...string) store.Chat {
	c := store.Chat{ID: id, UserID: "u1", ChatType: "group"}
	var raws []string
	for _, m := range members {
		c.Members = append(c.Members, store.ChatMember{ID: "mem-" + m, UserID: m, Email: strings.ToUpper(m) + "@Contoso.test",
			Raw: []byte(fmt.Sprintf(`{"id":"mem-%s","userId":%q}`, m, m))})
		raws = append(raws, fmt.Sprintf(`{"id":"mem-%s","userId":%q}`, m, m))
	}
	c.Raw = []byte(fmt.Sprintf(`{"id":%q,"members":[%s]}`, id, strings.Join(raws, ",")))
	return c
}

func chatTx(t *testing.T, s *store.Store, fn func(tx pgx.Tx) error) {
	t.Helper()
	if err := s.Tx(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

func TestChatsAndMembers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.Store(t)
	c := newConnection(t, s, "u1", store.Tokens{AccessToken: "a", RefreshToken: "r"})
	upsertChats := func(cs ...store.Chat) int64 {
		var n int64
		chatTx(t, s, func(tx pgx.Tx) error {
			var err error
			n, err = s.UpsertChatsTx(ctx, tx, c.ID, cs)
			return err
		})
		return n
	}
	members := func(chatID string) string {
		var got string
		if err := s.Pool().QueryRow(ctx, `SELECT coalesce(string_agg(user_id || ':' || email, ',' ORDER BY user_id), '')
			FROM chat_members WHERE connection_id = $1 AND chat_id = $2`, c.ID, chatID).Scan(&got); err != nil {
			t.Fatal(err)
		}
		return got
	}

	if n := upsertChats(chatWith("c1", "u1", "u2"), chatWith("c2", "u1", "u3")); n != 2 {
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
	if n := upsertChats(chatWith("c1", "u1", "u2"), chatWith("c2", "u1", "u3")); n != 0 {
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
	if n := upsertChats(chatWith("c1", "u1", "u4")); n != 1 {
		t.Fatalf("changed chat: %d rows", n)
	}
	if got := members("c1"); got != "u1:u1@contoso.test,u4:u4@contoso.test" {
		t.Fatalf("members of c1 after a change: %q", got)
	}

	// A chat missing from the user's list is retired with its messages.
	chatTx(t, s, func(tx pgx.Tx) error {
		_, err := s.UpsertChatMessagesTx(ctx, tx, c.ID, "c2", []store.ChatMessage{{ID: "1", UserID: "u1", Raw: []byte(`{"id":"1"}`)}})
		return err
	})
	var gone []string
	chatTx(t, s, func(tx pgx.Tx) error {
		var err error
		gone, err = s.RetireChatsTx(ctx, tx, c.ID, "u1", []string{"c1"})
		return err
	})
	if len(gone) != 1 || gone[0] != "c2" {
		t.Fatalf("retired %v, want [c2]", gone)
	}
	if n := countChatRows(t, s, "SELECT count(*) FROM chat_messages WHERE chat_id = 'c2' AND deleted_at IS NOT NULL"); n != 1 {
		t.Fatalf("messages of the retired chat still live")
	}
	// Listed again, it comes back with its messages.
	upsertChats(chatWith("c2", "u1", "u3"))
	if n := countChatRows(t, s, "SELECT count(*) FROM chats WHERE deleted_at IS NULL"); n != 2 {
		t.Fatalf("%d live chats, want 2", n)
	}
	if n := countChatRows(t, s, "SELECT count(*) FROM chat_messages WHERE chat_id = 'c2' AND deleted_at IS NULL"); n != 1 {
		t.Fatalf("messages of the relisted chat still retired")
	}
}

func TestChatMessages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.Store(t)
	c := newConnection(t, s, "u1", store.Tokens{AccessToken: "a", RefreshToken: "r"})
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	m := func(id, body string, modified time.Time, deleted bool) store.ChatMessage {
		row := store.ChatMessage{ID: id, UserID: "u1", BodyContent: body, LastModifiedAt: modified,
			Mentions: []byte(`[]`), Raw: []byte(fmt.Sprintf(`{"id":%q,"body":{"content":%q},"m":%q}`, id, body, modified))}
		if deleted {
			row.DeletedAt = modified
		}
		return row
	}
	write := func(chatID string, ms ...store.ChatMessage) int64 {
		var n int64
		chatTx(t, s, func(tx pgx.Tx) error {
			var err error
			n, err = s.UpsertChatMessagesTx(ctx, tx, c.ID, chatID, ms)
			return err
		})
		return n
	}
	// Message ids are unique within a chat only.
	if n := write("c1", m("100", "hello", t0, false), m("101", "bye", t0, false)); n != 2 {
		t.Fatalf("wrote %d, want 2", n)
	}
	if n := write("c2", m("100", "other chat", t0.Add(time.Second), false)); n != 1 {
		t.Fatalf("same id in another chat: wrote %d, want 1", n)
	}
	// Re-reading (the watermark overlap) writes nothing.
	if n := write("c1", m("100", "hello", t0, false)); n != 0 {
		t.Fatalf("unchanged message rewritten")
	}
	// A deletion keeps the row with deleted_at = deletedDateTime; a
	// repeated id keeps the last occurrence.
	del := t0.Add(time.Minute)
	if n := write("c1", m("101", "bye (edited)", t0.Add(30*time.Second), false), m("101", "", del, true)); n != 1 {
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
	var wm time.Time
	chatTx(t, s, func(tx pgx.Tx) error {
		var err error
		wm, err = s.ChatMessagesWatermark(ctx, tx, c.ID, "c1")
		return err
	})
	if !wm.Equal(del) {
		t.Fatalf("watermark %s, want %s", wm, del)
	}
	chatTx(t, s, func(tx pgx.Tx) error {
		var err error
		wm, err = s.ChatMessagesWatermark(ctx, tx, c.ID, "none")
		return err
	})
	if !wm.IsZero() {
		t.Fatalf("watermark of an empty chat: %s", wm)
	}
}

func countChatRows(t *testing.T, s *store.Store, sql string) int {
	t.Helper()
	var n int
	if err := s.Pool().QueryRow(context.Background(), sql).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
