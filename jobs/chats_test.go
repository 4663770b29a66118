package jobs_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/verify"
	"github.com/graphsync/graphsync/internal/worker"
)

// Routes of the emulator's request counters; /me is served as /users/{u}.
const (
	chatListRoute     = "users/{u}/chats"
	chatMessagesRoute = "users/{u}/chats/{c}/messages"
	// editCheck is how long a chat's messages may go unlisted without a
	// new message: the default sync interval.
	editCheck = 5 * time.Minute
)

func TestChatsSyncMatchesGroundTruth(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{Users: 3, MessagesPerUser: 1, ChatsPerUser: 4, ChatMessagesPerChat: 60},
		resources: []string{"chats"}})
	b.syncNow(t, time.Minute)
	b.assertChatsMatchTruth(t)
	if n := b.count(t, "SELECT count(*) FROM chat_messages"); n < 3*4*60/2 {
		t.Fatalf("only %d chat messages stored", n)
	}

	// Mutations until chats have new, edited and deleted messages.
	kinds := map[string]bool{}
	for i := 0; i < 20 && len(kinds) < 3; i++ {
		for _, what := range b.em.Mutate(100) {
			for _, k := range []string{"chatMessage created", "chatMessage edited", "chatMessage deleted"} {
				if strings.HasPrefix(what, k) {
					kinds[k] = true
				}
			}
		}
	}
	if len(kinds) < 3 {
		t.Fatalf("mutations made only %v", kinds)
	}
	// Edits and deletions of older messages show in no preview: they are
	// found within one sync interval.
	b.elapse(editCheck)
	b.syncNow(t, time.Minute)
	b.assertChatsMatchTruth(t)
	if n := b.count(t, `SELECT count(*) FROM chat_messages WHERE deleted_at IS NOT NULL
		AND deleted_at = (raw->>'deletedDateTime')::timestamptz AND coalesce(body_content, '') = ''`); n == 0 {
		t.Fatal("no deleted message stored with deleted_at from deletedDateTime")
	}
	if n := b.count(t, "SELECT count(*) FROM chat_messages WHERE last_edited_at IS NOT NULL AND body_content LIKE '%(edited)%'"); n == 0 {
		t.Fatal("no edited message stored")
	}

	// An idle pass lists the chats and no chat's messages, and writes nothing.
	before := b.count(t, "SELECT count(*) FROM chat_messages WHERE synced_at > now() - interval '1 hour'")
	b.em.ResetCounters()
	b.syncNow(t, time.Minute)
	c := b.em.Counters()
	if got := sumRequests(c, chatMessagesRoute); got != 0 {
		t.Fatalf("idle pass listed messages %d times; requests: %v", got, c.Requests)
	}
	if got := sumRequests(c, chatListRoute); got != int64(len(b.conns)) {
		t.Fatalf("idle pass listed chats %d times, want %d", got, len(b.conns))
	}
	if after := b.count(t, "SELECT count(*) FROM chat_messages WHERE synced_at > now() - interval '1 hour'"); after != before {
		t.Fatalf("idle pass rewrote messages: %d -> %d", before, after)
	}

	// One chat moves: only its members list its messages, once each.
	chatID, members := firstChat(t, b)
	if _, err := b.em.AddChatMessage(chatID, time.Now()); err != nil {
		t.Fatal(err)
	}
	b.em.ResetCounters()
	b.syncNow(t, time.Minute)
	c = b.em.Counters()
	if got := sumRequests(c, chatMessagesRoute); got != int64(members) {
		t.Fatalf("after one chat moved, messages were listed %d times, want %d (its members)", got, members)
	}
	b.assertChatsMatchTruth(t)
}

// Messages sharing one lastModifiedDateTime are all stored, whether they
// straddle a page boundary of one listing or the watermark between two.
func TestChatsEqualTimestamps(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{Users: 2, MessagesPerUser: 1, ChatsPerUser: 1, ChatMessagesPerChat: 5},
		resources: []string{"chats"}, worker: func(c *worker.Config) { c.Engine.ChatPageSize = 2 }})
	chatID, _ := firstChat(t, b)
	same := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	var ids []string
	for i := 0; i < 3; i++ { // newest first: pages [a b] [c ...]
		id, err := b.em.AddChatMessage(chatID, same)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	// Messages stamped in the past are not the chat's newest: the periodic
	// listing from the watermark finds them.
	b.elapse(editCheck)
	b.syncNow(t, time.Minute)
	b.assertChatsMatchTruth(t)

	// The watermark is now exactly same; one more message modified in that
	// very millisecond arrives after the listing.
	late, err := b.em.AddChatMessage(chatID, same)
	if err != nil {
		t.Fatal(err)
	}
	ids = append(ids, late)
	b.elapse(editCheck)
	b.syncNow(t, time.Minute)
	b.assertChatsMatchTruth(t)
	for _, id := range ids {
		if n := b.count(t, "SELECT count(*) FROM chat_messages WHERE chat_id = $1 AND id = $2 AND last_modified_at = $3",
			chatID, id, same); n == 0 {
			t.Fatalf("message %s modified at %s not stored", id, same.Format(time.RFC3339Nano))
		}
	}
}

// An undecodable message is quarantined with the reason; the rest of its
// page and chat is stored.
func TestChatsQuarantineUndecodableMessage(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{Users: 2, MessagesPerUser: 1, ChatsPerUser: 1, ChatMessagesPerChat: 5},
		resources: []string{"chats"}})
	chatID, _ := firstChat(t, b)
	bad, err := b.em.AddPoisonChatMessage(chatID, time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	good, err := b.em.AddChatMessage(chatID, time.Now().Add(-30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	b.syncNow(t, time.Minute)

	for _, c := range b.conns {
		results, err := verify.Chats(context.Background(), b.store.Pool(), b.em.URL(), c.ID, c.UserID)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range results {
			want := 0
			if r.Table == "chat_messages" {
				want = 1
			}
			if len(r.Diffs) != want || (want == 1 && r.Diffs[0] != "missing "+chatID+"/"+bad) {
				t.Fatalf("connection %d %s: diffs %v, want only the quarantined message missing", c.ID, r.Table, r.Diffs)
			}
		}
		if n := b.count(t, "SELECT count(*) FROM chat_messages WHERE connection_id = $1 AND chat_id = $2 AND id = $3",
			c.ID, chatID, good); n != 1 {
			t.Fatalf("connection %d: the good message after the bad one was not stored", c.ID)
		}
		if n := b.count(t, `SELECT count(*) FROM quarantine WHERE connection_id = $1 AND resource = 'chats'
			AND item_id = $2 AND error LIKE '%chatMessage%'`, c.ID, bad); n != 1 {
			t.Fatalf("connection %d: bad message not quarantined with its reason", c.ID)
		}
	}
}

// An application connection syncs every user's chats through
// /users/{id}/chats under one connection; a chat two users share is stored
// once and matches the truth for both.
func TestChatsApplicationConnection(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{Users: 3, MessagesPerUser: 1, ChatsPerUser: 3, ChatMessagesPerChat: 20},
		application: true, resources: []string{"chats"}})
	b.syncNow(t, 2*time.Minute)
	b.assertTenantChatsMatchTruth(t)
	for i := 0; i < 10 && b.count(t, "SELECT count(*) FROM chat_messages WHERE deleted_at IS NOT NULL") == 0; i++ {
		b.em.Mutate(100)
		b.elapse(editCheck)
		b.syncNow(t, 2*time.Minute)
	}
	b.assertTenantChatsMatchTruth(t)
	if c := b.em.Counters(); sumRequests(c, chatMessagesRoute) == 0 {
		t.Fatalf("messages not read through /users/{id}/chats/{id}/messages: %v", c.Requests)
	}
}

func (b *bundle) assertTenantChatsMatchTruth(t *testing.T) {
	t.Helper()
	conn := b.conns[0]
	for _, u := range b.em.Users() {
		results, err := verify.Chats(context.Background(), b.store.Pool(), b.em.URL(), conn.ID, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range results {
			if len(r.Diffs) > 0 {
				t.Fatalf("user %s %s differs from ground truth (%d truth, %d rows):\n%v", u.UserPrincipalName, r.Table, r.Truth, r.Rows, r.Diffs)
			}
			if r.Truth == 0 {
				t.Fatalf("ground truth of %s is empty; the comparison proves nothing", r.Table)
			}
		}
	}
}

// With a time budget that ends after every page, a chat's listing spreads
// over several jobs, resuming at its checkpointed nextLink, and still ends
// equal to the truth with each page fetched once.
func TestChatsResumeAcrossJobs(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{Users: 2, MessagesPerUser: 1, ChatsPerUser: 1, ChatMessagesPerChat: 120},
		resources: []string{"chats"}, worker: func(c *worker.Config) { c.Jobs.MaxJobDuration = time.Nanosecond }})
	b.syncNow(t, time.Minute)
	b.assertChatsMatchTruth(t)
	// One chat shared by both users, 120 messages in pages of 50: three
	// pages for each user.
	if n := sumRequests(b.em.Counters(), chatMessagesRoute); n != 6 {
		t.Fatalf("emulator served %d message pages, want 6 (each page once)", n)
	}
	if n := b.count(t, "SELECT coalesce(sum(pages), 0) FROM sync_state WHERE resource = 'chats'"); n != 6 {
		t.Fatalf("%d pages committed, want 6", n)
	}
}

// firstChat returns a chat of the first user and how many connected users
// are its members.
func firstChat(t *testing.T, b *bundle) (string, int) {
	t.Helper()
	chats := b.truth(t, b.conns[0].UserID, "chats")
	if len(chats) == 0 {
		t.Fatal("first user has no chats")
	}
	var c struct {
		ID      string `json:"id"`
		Members []struct {
			UserID string `json:"userId"`
		} `json:"members"`
	}
	if err := json.Unmarshal(chats[0], &c); err != nil {
		t.Fatal(err)
	}
	connected := map[string]bool{}
	for _, conn := range b.conns {
		connected[conn.UserID] = true
	}
	n := 0
	for _, m := range c.Members {
		if connected[m.UserID] {
			n++
		}
	}
	return c.ID, n
}

func sumRequests(c emulator.Counters, route string) int64 {
	var n int64
	for _, v := range c.Requests[route] {
		n += v
	}
	return n
}

// assertChatsMatchTruth compares every connection's chats, members and
// messages with the emulator's ground truth.
func (b *bundle) assertChatsMatchTruth(t *testing.T) {
	t.Helper()
	b.assertMatchesTruth(t, "chats")
}

// Chats as Microsoft documents them: a new message moves the chat's
// lastMessagePreview, not its lastUpdatedDateTime, and is synced on the next
// pass; edits and deletions of older messages move neither and are synced
// within one sync interval; a rename moves lastUpdatedDateTime and the
// chat's row follows.
func TestChatsNewMessagesAtOnceEditsWithinInterval(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{Users: 2, MessagesPerUser: 1, ChatsPerUser: 3, ChatMessagesPerChat: 10},
		resources: []string{"chats"}})
	b.syncNow(t, time.Minute)
	b.assertChatsMatchTruth(t)
	chatID, _ := firstChat(t, b)
	var old []string
	for _, raw := range b.truth(t, b.conns[0].UserID, "chatMessages") {
		var m struct {
			ID          string `json:"id"`
			ChatID      string `json:"chatId"`
			MessageType string `json:"messageType"`
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		if m.ChatID == chatID && m.MessageType == "message" {
			old = append(old, m.ID)
		}
	}
	if len(old) < 2 {
		t.Fatalf("chat %s has %d user messages, want 2 to edit and delete", chatID, len(old))
	}

	id, err := b.em.AddChatMessage(chatID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b.syncNow(t, time.Minute)
	if n := b.count(t, "SELECT count(*) FROM chat_messages WHERE chat_id = $1 AND id = $2", chatID, id); n == 0 {
		t.Fatal("a new message was not synced on the next pass")
	}

	if err := b.em.EditChatMessage(chatID, old[0]); err != nil {
		t.Fatal(err)
	}
	if err := b.em.DeleteChatMessage(chatID, old[1]); err != nil {
		t.Fatal(err)
	}
	b.elapse(editCheck)
	b.syncNow(t, time.Minute)
	b.assertChatsMatchTruth(t)
	if n := b.count(t, "SELECT count(*) FROM chat_messages WHERE chat_id = $1 AND id = $2 AND last_edited_at IS NOT NULL", chatID, old[0]); n == 0 {
		t.Fatal("the edit was not synced within one interval")
	}
	if n := b.count(t, "SELECT count(*) FROM chat_messages WHERE chat_id = $1 AND id = $2 AND deleted_at IS NOT NULL", chatID, old[1]); n == 0 {
		t.Fatal("the deletion was not synced within one interval")
	}

	renamed := false
	for _, raw := range b.truth(t, b.conns[0].UserID, "chats") {
		var c struct{ ID, ChatType string }
		if json.Unmarshal(raw, &c) == nil && c.ChatType == "group" {
			if _, err := b.em.RenameChat(c.ID, "Renamed for the test"); err != nil {
				t.Fatal(err)
			}
			renamed = true
			break
		}
	}
	if !renamed {
		t.Fatal("no group chat to rename")
	}
	b.syncNow(t, time.Minute)
	if n := b.count(t, "SELECT count(*) FROM chats WHERE topic = 'Renamed for the test' AND deleted_at IS NULL"); n == 0 {
		t.Fatal("the rename was not synced")
	}
	b.assertChatsMatchTruth(t)
	if n := b.count(t, `SELECT count(*) FROM chats WHERE raw ? 'lastMessagePreview'`); n != 0 {
		t.Fatalf("%d chats store the preview of their newest message, which would rewrite them with every message", n)
	}
}

// Graph notifies of an edit of an older chat message (the getAllMessages
// subscription covers updated and deleted messages), which moves no chat's
// preview: the sync the notification queues lists the chats' messages and
// stores the edit at once, not one sync interval later.
func TestChatsNotifiedEditSyncedAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{Users: 2, MessagesPerUser: 1, ChatsPerUser: 3, ChatMessagesPerChat: 10},
		resources: []string{"chats"}})
	b.syncNow(t, time.Minute)
	chatID, _ := firstChat(t, b)
	var old string
	for _, raw := range b.truth(t, b.conns[0].UserID, "chatMessages") {
		var m struct{ ID, ChatID, MessageType string }
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		if m.ChatID == chatID && m.MessageType == "message" {
			old = m.ID
			break
		}
	}
	if old == "" {
		t.Fatalf("chat %s has no user message to edit", chatID)
	}
	if err := b.em.EditChatMessage(chatID, old); err != nil {
		t.Fatal(err)
	}
	if err := b.svc.EnqueueNotified(context.Background(), b.client, b.conns[0].ID, b.conns[0].UserID, graphsync.Chats, time.Now()); err != nil {
		t.Fatal(err)
	}
	b.waitIdle(t, time.Minute)
	if n := b.count(t, "SELECT count(*) FROM chat_messages WHERE connection_id = $1 AND chat_id = $2 AND id = $3 AND last_edited_at IS NOT NULL",
		b.conns[0].ID, chatID, old); n == 0 {
		t.Fatal("the notified edit was not synced by the sync the notification queued")
	}
}
