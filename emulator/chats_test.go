package emulator

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"
)

type listedChat struct {
	ID                  string  `json:"id"`
	Topic               *string `json:"topic"`
	ChatType            string  `json:"chatType"`
	CreatedDateTime     string  `json:"createdDateTime"`
	LastUpdatedDateTime string  `json:"lastUpdatedDateTime"`
	Members             []struct {
		UserID string `json:"userId"`
	} `json:"members"`
	PreviewContext     string `json:"lastMessagePreview@odata.context"`
	LastMessagePreview *struct {
		ID              string `json:"id"`
		CreatedDateTime string `json:"createdDateTime"`
		IsDeleted       bool   `json:"isDeleted"`
		MessageType     string `json:"messageType"`
		Body            struct {
			ContentType string `json:"contentType"`
			Content     string `json:"content"`
		} `json:"body"`
		From        json.RawMessage `json:"from"`
		EventDetail map[string]any  `json:"eventDetail"`
	} `json:"lastMessagePreview"`
}

// listChats reads every page of a chat listing, keyed by chat id, and the
// order the chats came in.
func (b *bundle) listChats(t *testing.T, tok, path string, hdr ...string) (map[string]listedChat, []string, string) {
	t.Helper()
	out := map[string]listedChat{}
	var order []string
	ctx := ""
	for link := path; link != ""; {
		resp, body := b.get(t, tok, link, hdr...)
		var p struct {
			Context  string       `json:"@odata.context"`
			Value    []listedChat `json:"value"`
			NextLink string       `json:"@odata.nextLink"`
		}
		if err := json.Unmarshal(body, &p); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", link, resp.StatusCode, body)
		}
		ctx = p.Context
		for _, c := range p.Value {
			out[c.ID] = c
			order = append(order, c.ID)
		}
		link = p.NextLink
	}
	return out, order, ctx
}

// lastUpdatedDateTime moves only when a chat is renamed or its members
// change, as Microsoft documents ("Date and time at which the chat was
// renamed or the list of members was last changed",
// https://learn.microsoft.com/graph/api/resources/chat); new, edited and
// deleted messages leave it alone. $expand=members,lastMessagePreview shows
// the newest message as a chatMessageInfo
// (https://learn.microsoft.com/graph/api/chat-list,
// https://learn.microsoft.com/graph/api/resources/chatmessageinfo).
func TestChatLastUpdatedDateTime(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 31, Users: 4, MessagesPerUser: 1, ChatsPerUser: 3, ChatMessagesPerChat: 6})
	users := b.srv.Users()
	user := users[0]
	tok := b.userTokens(t, "Chat.Read User.Read", user.UserPrincipalName)["access_token"].(string)
	const list = "/v1.0/me/chats?$expand=members,lastMessagePreview"
	chats, _, ctx := b.listChats(t, tok, list)
	if ctx != "https://graph.microsoft.com/v1.0/$metadata#chats(members(),lastMessagePreview())" {
		t.Errorf("@odata.context %q", ctx)
	}
	var g listedChat
	for _, c := range chats {
		if c.ChatType == "group" && (g.ID == "" || c.ID < g.ID) {
			g = c
		}
	}
	if g.ID == "" {
		t.Fatal("user has no group chat")
	}
	if len(g.Members) < 2 || g.LastMessagePreview == nil || !strings.Contains(g.PreviewContext, "/lastMessagePreview/$entity") {
		t.Fatalf("group chat lacks members or preview: %+v", g)
	}
	before := g.LastUpdatedDateTime
	get := func() listedChat {
		t.Helper()
		chats, _, _ := b.listChats(t, tok, list)
		c, ok := chats[g.ID]
		if !ok {
			t.Fatalf("chat %s no longer listed", g.ID)
		}
		return c
	}
	cut := time.Now().UTC().Add(-time.Second)

	// A new message: the preview shows it, lastUpdatedDateTime stays.
	id, err := b.srv.AddChatMessage(g.ID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c := get()
	if c.LastUpdatedDateTime != before {
		t.Errorf("a new message moved lastUpdatedDateTime from %s to %s", before, c.LastUpdatedDateTime)
	}
	if p := c.LastMessagePreview; p == nil || p.ID != id || p.IsDeleted || p.MessageType != "message" || p.Body.Content == "" || !strings.Contains(string(p.From), user.ID) {
		t.Errorf("preview after a new message %s: %+v", id, p)
	}
	// An edit.
	if err := b.srv.EditChatMessage(g.ID, id); err != nil {
		t.Fatal(err)
	}
	c = get()
	if c.LastUpdatedDateTime != before {
		t.Errorf("an edit moved lastUpdatedDateTime from %s to %s", before, c.LastUpdatedDateTime)
	}
	if p := c.LastMessagePreview; p == nil || p.ID != id || !strings.Contains(p.Body.Content, "(edited)") {
		t.Errorf("preview after an edit: %+v", p)
	}
	// A deletion: the preview stays on the message, marked deleted.
	if err := b.srv.DeleteChatMessage(g.ID, id); err != nil {
		t.Fatal(err)
	}
	c = get()
	if c.LastUpdatedDateTime != before {
		t.Errorf("a deletion moved lastUpdatedDateTime from %s to %s", before, c.LastUpdatedDateTime)
	}
	if p := c.LastMessagePreview; p == nil || p.ID != id || !p.IsDeleted || p.Body.Content != "" {
		t.Errorf("preview after a deletion: %+v", p)
	}
	// The per-chat listing still finds all three changes, as documented.
	_, body := b.get(t, tok, "/v1.0/chats/"+url.PathEscape(g.ID)+"/messages?$orderby=lastModifiedDateTime+desc&$filter="+
		url.QueryEscape("lastModifiedDateTime gt "+cut.Format(time.RFC3339Nano)))
	var p page
	if err := json.Unmarshal(body, &p); err != nil || len(p.Value) != 1 || str(p.Value[0], "id") != id || str(p.Value[0], "deletedDateTime") == "" {
		t.Errorf("messages changed since %s: %s", cut, body)
	}

	// A rename moves it, and its system event is the newest message.
	time.Sleep(2 * time.Millisecond)
	evID, err := b.srv.RenameChat(g.ID, "Renamed topic ✨")
	if err != nil {
		t.Fatal(err)
	}
	c = get()
	if c.LastUpdatedDateTime <= before || c.Topic == nil || *c.Topic != "Renamed topic ✨" {
		t.Errorf("after a rename: lastUpdatedDateTime %s (was %s), topic %v", c.LastUpdatedDateTime, before, c.Topic)
	}
	if p := c.LastMessagePreview; p == nil || p.ID != evID || p.MessageType != "unknownFutureValue" || string(p.From) != "null" ||
		p.EventDetail["@odata.type"] != "#microsoft.graph.chatRenamedEventMessageDetail" || p.EventDetail["chatDisplayName"] != "Renamed topic ✨" {
		t.Errorf("preview after a rename: %+v", p)
	}
	if p := get2(t, b, tok, list, g.ID); p != "systemEventMessage" {
		t.Errorf("with include-unknown-enum-members the preview's messageType is %q", p)
	}
	renamed := c.LastUpdatedDateTime

	// Member changes move it; the member's own list gains and loses the chat.
	var outsider User
	for _, u := range users {
		in := false
		for _, m := range c.Members {
			in = in || m.UserID == u.ID
		}
		if !in {
			outsider = u
		}
	}
	if outsider.ID == "" {
		t.Fatal("every user is in the chat")
	}
	app := b.appToken(t)
	theirs := func() bool {
		chats, _, _ := b.listChats(t, app, "/v1.0/users/"+outsider.ID+"/chats")
		_, ok := chats[g.ID]
		return ok
	}
	if theirs() {
		t.Fatal("outsider already lists the chat")
	}
	time.Sleep(2 * time.Millisecond)
	if _, err := b.srv.AddChatMember(g.ID, outsider.ID); err != nil {
		t.Fatal(err)
	}
	c = get()
	if c.LastUpdatedDateTime <= renamed || len(c.Members) != len(g.Members)+1 ||
		c.LastMessagePreview.EventDetail["@odata.type"] != "#microsoft.graph.membersAddedEventMessageDetail" {
		t.Errorf("after adding a member: lastUpdatedDateTime %s (was %s), %d members, preview %+v", c.LastUpdatedDateTime, renamed, len(c.Members), c.LastMessagePreview)
	}
	if !theirs() {
		t.Error("the added member does not list the chat")
	}
	added := c.LastUpdatedDateTime
	time.Sleep(2 * time.Millisecond)
	if _, err := b.srv.RemoveChatMember(g.ID, outsider.ID); err != nil {
		t.Fatal(err)
	}
	c = get()
	if c.LastUpdatedDateTime <= added || len(c.Members) != len(g.Members) ||
		c.LastMessagePreview.EventDetail["@odata.type"] != "#microsoft.graph.membersDeletedEventMessageDetail" {
		t.Errorf("after removing a member: lastUpdatedDateTime %s (was %s), %d members", c.LastUpdatedDateTime, added, len(c.Members))
	}
	if theirs() {
		t.Error("the removed member still lists the chat")
	}

	// Bad input gets a clear error.
	if _, err := b.srv.RenameChat("19:nope@thread.v2", "x"); err == nil {
		t.Error("renaming an unknown chat succeeded")
	}
	if _, err := b.srv.AddChatMember(g.ID, user.ID); err == nil {
		t.Error("adding a member twice succeeded")
	}
	if err := b.srv.EditChatMessage(g.ID, id); err == nil {
		t.Error("editing a deleted message succeeded")
	}
}

func get2(t *testing.T, b *bundle, tok, list, chatID string) string {
	t.Helper()
	chats, _, _ := b.listChats(t, tok, list, "Prefer", "include-unknown-enum-members")
	if p := chats[chatID].LastMessagePreview; p != nil {
		return p.MessageType
	}
	return ""
}

// The mutation generator renames chats and changes their members besides
// adding, editing and deleting messages; after any mix, every chat's
// lastUpdatedDateTime is its newest rename or member change (the system
// events Teams posts for them), or its creation.
func TestChatMutationsKeepLastUpdated(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 32, Users: 4, MessagesPerUser: 1, EventsPerUser: 1, DriveItemsPerUser: 1,
		ContactsPerUser: 1, PeoplePerUser: 1, ChatsPerUser: 3, ChatMessagesPerChat: 4})
	kinds := map[string]int{}
	for _, d := range b.srv.Mutate(3000) {
		for _, k := range []string{"chatMessage created", "chatMessage edited", "chatMessage deleted", "chat renamed", "chat member added", "chat member removed"} {
			if strings.HasPrefix(d, k+" ") {
				kinds[k]++
			}
		}
	}
	for _, k := range []string{"chatMessage created", "chatMessage edited", "chatMessage deleted", "chat renamed", "chat member added", "chat member removed"} {
		if kinds[k] == 0 {
			t.Errorf("no %q among the mutations: %v", k, kinds)
		}
	}
	t.Logf("mutations: %v", kinds)
	app := b.appToken(t)
	checked := 0
	for _, u := range b.srv.Users() {
		latest := map[string]string{}
		for _, r := range must(b.srv.Truth(u.ID, "chatMessages")) {
			var m map[string]json.RawMessage
			_ = json.Unmarshal(r, &m)
			if string(m["eventDetail"]) != "null" && str(m, "createdDateTime") > latest[str(m, "chatId")] {
				latest[str(m, "chatId")] = str(m, "createdDateTime")
			}
		}
		chats, order, _ := b.listChats(t, app, "/v1.0/users/"+u.ID+"/chats?$expand=lastMessagePreview&$orderby=lastMessagePreview/createdDateTime+desc")
		for i, id := range order {
			c := chats[id]
			want := latest[id]
			if want == "" {
				want = c.CreatedDateTime
			}
			if c.LastUpdatedDateTime != want {
				t.Errorf("chat %s: lastUpdatedDateTime %s, want %s (newest rename or member change)", id, c.LastUpdatedDateTime, want)
			}
			if i > 0 && chats[order[i-1]].LastMessagePreview.CreatedDateTime < c.LastMessagePreview.CreatedDateTime {
				t.Errorf("not ordered by lastMessagePreview/createdDateTime desc at %d", i)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no chats checked")
	}
	if resp, body := b.get(t, app, "/v1.0/users/"+b.srv.Users()[0].ID+"/chats?$expand=replies"); resp.StatusCode != 400 {
		t.Errorf("$expand=replies: %d %s", resp.StatusCode, body)
	}
	if resp, body := b.get(t, app, "/v1.0/users/"+b.srv.Users()[0].ID+"/chats?$orderby=lastUpdatedDateTime+desc"); resp.StatusCode != 400 {
		t.Errorf("$orderby=lastUpdatedDateTime: %d %s", resp.StatusCode, body)
	}
}

// A group chat's third member drawn again is not listed twice, however few
// the users.
func TestChatMembersUnique(t *testing.T) {
	t.Parallel()
	for seed := int64(1); seed <= 5; seed++ {
		em, err := New(Config{Seed: seed, Users: 2, MessagesPerUser: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range em.Users() {
			chats, err := em.Truth(u.ID, "chats")
			if err != nil {
				t.Fatal(err)
			}
			for _, raw := range chats {
				var c listedChat
				if err := json.Unmarshal(raw, &c); err != nil {
					t.Fatal(err)
				}
				seen := map[string]bool{}
				for _, m := range c.Members {
					if seen[m.UserID] {
						t.Errorf("seed %d: chat %s lists member %s twice", seed, c.ID, m.UserID)
					}
					seen[m.UserID] = true
				}
			}
		}
	}
}
