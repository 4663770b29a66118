package emulator

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

type chat struct {
	id, topic, kind string
	created         time.Time
	updated         time.Time
	members         []*userRec
	msgs            []*chatMsg
}

type chatMsg struct {
	id                   string
	from                 *userRec // nil for system events
	created, modified    time.Time
	edited, deleted      *time.Time
	content, contentType string
	importance           string
	event                map[string]any
	// poison makes the message's createdDateTime unreadable, as a record
	// a client must set aside without losing the rest.
	poison bool
}

func ms(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func (em *Emulator) genChats(anchor time.Time) {
	if len(em.users) == 0 {
		return
	}
	r := rand.New(rand.NewPCG(uint64(em.cfg.Seed), 0xc4a7))
	for ui, u := range em.users {
		for i := 0; i < em.cfg.ChatsPerUser; i++ {
			other := em.users[(ui+i+1)%len(em.users)]
			// Messages follow creation by up to 6 hours each; starting far
			// enough back keeps them all in the past, as Graph's are.
			created := anchor.Add(-time.Duration(r.IntN(200*24))*time.Hour - time.Duration(em.cfg.ChatMessagesPerChat)*6*time.Hour)
			c := &chat{created: created, updated: created}
			switch {
			case i%3 == 0 && other != u:
				a, b := u.id, other.id
				if a > b {
					a, b = b, a
				}
				c.id, c.kind, c.members = "19:"+a+"_"+b+"@unq.gbl.spaces", "oneOnOne", []*userRec{u, other}
			case i%3 == 1:
				c.id, c.kind = fmt.Sprintf("19:meeting_%x@thread.v2", em.hash64(u.id, "meeting", strconv.Itoa(i))), "meeting"
				c.topic = "Meeting: " + pick(r, words)
				c.members = []*userRec{u, other}
			default:
				c.id, c.kind = fmt.Sprintf("19:%x@thread.v2", em.hash64(u.id, "group", strconv.Itoa(i))), "group"
				c.topic = pick(r, []string{"Project ", "Équipe ", "チーム ", "Launch "}) + pick(r, words)
				c.members = []*userRec{u, other, em.users[r.IntN(len(em.users))]}
			}
			if _, dup := em.chats[c.id]; dup {
				continue
			}
			c.members = slices.CompactFunc(c.members, func(a, b *userRec) bool { return a == b })
			em.chats[c.id] = c
			t := created
			for j := 0; j < em.cfg.ChatMessagesPerChat; j++ {
				t = t.Add(time.Duration(1+r.IntN(3600*6)) * time.Second)
				if j == 2 && c.kind == "group" {
					em.addChatMsg(c, nil, t, "<systemEventMessage/>", "html", r)
					continue
				}
				em.addChatMsg(c, pick(r, c.members), t, sentence(r, 3+r.IntN(20)), pick(r, []string{"text", "html"}), r)
			}
		}
	}
	// Chats and their members are fixed once generated: index them by
	// member, in id order, so listing a user's chats does not sort the
	// tenant's.
	em.chatsByUser = map[*userRec][]*chat{}
	for _, id := range sortedKeys(em.chats) {
		c := em.chats[id]
		for _, u := range c.members {
			em.chatsByUser[u] = append(em.chatsByUser[u], c)
		}
	}
}

func (em *Emulator) addChatMsg(c *chat, from *userRec, t time.Time, content, ctype string, r *rand.Rand) *chatMsg {
	id := strconv.FormatInt(t.UnixMilli(), 10)
	for slices.ContainsFunc(c.msgs, func(m *chatMsg) bool { return m.id == id }) {
		t = t.Add(time.Millisecond)
		id = strconv.FormatInt(t.UnixMilli(), 10)
	}
	if ctype == "html" && from != nil {
		content = "<p>" + content + "</p>"
	}
	m := &chatMsg{id: id, from: from, created: t, modified: t, content: content, contentType: ctype, importance: "normal"}
	if from == nil {
		m.event = map[string]any{"@odata.type": "#microsoft.graph.chatRenamedEventMessageDetail", "chatId": c.id,
			"chatDisplayName": c.topic, "initiator": map[string]any{"application": nil, "device": nil,
				"user": map[string]any{"@odata.type": "#microsoft.graph.teamworkUserIdentity", "id": c.members[0].id, "displayName": nil, "userIdentityType": "aadUser", "tenantId": em.cfg.TenantID}}}
	}
	c.msgs = append(c.msgs, m)
	if t.After(c.updated) {
		c.updated = t
	}
	return m
}

func (em *Emulator) chatMsgJSON(c *chat, m *chatMsg, includeUnknown bool) object {
	o := object{}
	o.set("@odata.type", "#microsoft.graph.chatMessage")
	o.set("id", m.id)
	o.set("replyToId", nil)
	o.set("etag", strconv.FormatInt(m.modified.UnixMilli(), 10))
	kind := "message"
	if m.from == nil {
		kind = "unknownFutureValue"
		if includeUnknown {
			kind = "systemEventMessage"
		}
	}
	o.set("messageType", kind)
	if m.poison {
		o.set("createdDateTime", "not a date")
	} else {
		o.set("createdDateTime", ms(m.created))
	}
	o.set("lastModifiedDateTime", ms(m.modified))
	o.set("lastEditedDateTime", tsOrNil(m.edited))
	o.set("deletedDateTime", tsOrNil(m.deleted))
	o.set("subject", nil)
	o.set("summary", nil)
	o.set("chatId", c.id)
	o.set("importance", m.importance)
	o.set("locale", "en-us")
	o.set("webUrl", nil)
	o.set("channelIdentity", nil)
	o.set("policyViolation", nil)
	o.set("eventDetail", m.event)
	if m.from == nil {
		o.set("from", nil)
	} else {
		o.set("from", map[string]any{"application": nil, "device": nil, "user": map[string]any{
			"@odata.type": "#microsoft.graph.teamworkUserIdentity", "id": m.from.id, "displayName": m.from.name,
			"userIdentityType": "aadUser", "tenantId": em.cfg.TenantID}})
	}
	content := m.content
	if m.deleted != nil {
		content = ""
	}
	o.set("body", map[string]string{"contentType": m.contentType, "content": content})
	o.set("attachments", []any{})
	o.set("mentions", []any{})
	o.set("reactions", []any{})
	o.set("messageHistory", []any{})
	return o
}

func tsOrNil(t *time.Time) any {
	if t == nil {
		return nil
	}
	return ms(*t)
}

func (em *Emulator) chatJSON(c *chat, members bool) object {
	o := object{}
	o.set("id", c.id)
	o.set("topic", nilIfEmpty(c.topic))
	o.set("createdDateTime", ms(c.created))
	o.set("lastUpdatedDateTime", ms(c.updated))
	o.set("chatType", c.kind)
	o.set("webUrl", "https://teams.microsoft.com/l/chat/"+url.PathEscape(c.id)+"/0?tenantId="+em.cfg.TenantID)
	o.set("tenantId", em.cfg.TenantID)
	o.set("onlineMeetingInfo", nil)
	o.set("viewpoint", nil)
	if members {
		var ms []any
		for _, u := range c.members {
			ms = append(ms, map[string]any{"@odata.type": "#microsoft.graph.aadUserConversationMember",
				"id": "MCMjMSMj" + strings.ReplaceAll(u.id, "-", ""), "roles": []string{"owner"}, "displayName": u.name,
				"visibleHistoryStartDateTime": "0001-01-01T00:00:00Z", "userId": u.id, "email": u.upn, "tenantId": em.cfg.TenantID})
		}
		o.set("members", ms)
	}
	return o
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (em *Emulator) userChats(u *userRec) []*chat {
	out := slices.Clone(em.chatsByUser[u])
	sort.SliceStable(out, func(i, j int) bool { return out[i].updated.After(out[j].updated) })
	return out
}

// chatsTruth lists the user's chats as $expand=members serves them.
func (em *Emulator) chatsTruth(u *userRec) []json.RawMessage {
	out := []json.RawMessage{}
	for _, c := range em.userChats(u) {
		b, _, _ := em.chatJSON(c, true).encode(nil, nil)
		out = append(out, b)
	}
	return out
}

func (em *Emulator) chatMessagesTruth(u *userRec) []json.RawMessage {
	out := []json.RawMessage{}
	for _, c := range em.userChats(u) {
		for _, m := range c.msgs {
			b, _, _ := em.chatMsgJSON(c, m, false).encode(nil, nil)
			out = append(out, b)
		}
	}
	return out
}

func (em *Emulator) mutateChats(u *userRec, r *rand.Rand, ver uint64) string {
	chats := em.userChats(u)
	if len(chats) == 0 {
		return "no-op"
	}
	c := pick(r, chats)
	now := em.now()
	var live []*chatMsg
	for _, m := range c.msgs {
		if m.deleted == nil && m.from != nil {
			live = append(live, m)
		}
	}
	switch op := r.IntN(100); {
	case op < 60 || len(live) == 0:
		m := em.addChatMsg(c, pick(r, c.members), now, sentence(r, 4+r.IntN(12)), "text", r)
		return "chatMessage created " + c.id + "/" + m.id
	case op < 85:
		m := pick(r, live)
		t := now
		m.edited, m.modified = &t, t
		m.content += " (edited)"
		c.updated = now
		return "chatMessage edited " + c.id + "/" + m.id
	default:
		m := pick(r, live)
		t := now
		m.deleted, m.modified = &t, t
		c.updated = now
		return "chatMessage deleted " + c.id + "/" + m.id
	}
}

// listChats serves /users/{id}/chats: $top at most 50, $expand=members,
// ordered by lastUpdatedDateTime descending.
func (c *call) listChats() {
	if !c.tok.app && c.user.id != c.tok.oid {
		c.fail(http.StatusForbidden, "Forbidden", "Requested API is not supported for another user in delegated context.")
		return
	}
	q := c.r.URL.Query()
	expand, _ := query(q, "expand")
	members := strings.EqualFold(expand, "members")
	if expand != "" && !members && !strings.EqualFold(expand, "lastMessagePreview") {
		c.fail(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Expand '%s' is not supported.", expand))
		return
	}
	if v, ok := query(q, "top"); ok {
		if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 50 {
			c.fail(http.StatusBadRequest, "BadRequest", "Invalid page size specified: '"+v+"'. Must be between 1 and 50 inclusive.")
			return
		}
	}
	c.em.mu.RLock()
	var items [][]byte
	for _, ch := range c.em.userChats(c.user) {
		b, _, _ := c.em.chatJSON(ch, members).encode(nil, nil)
		items = append(items, b)
	}
	c.em.mu.RUnlock()
	c.servePagedCount(items, c.context("chats"), 20, 50)
}

// chatMessages serves /chats/{id}/messages: $top at most 50; $orderby
// lastModifiedDateTime desc (default) or createdDateTime desc; $filter on
// lastModifiedDateTime gt/lt or createdDateTime lt, applied only when the
// request's $orderby names the same property (otherwise ignored), as
// Microsoft documents.
func (c *call) chatMessages() {
	em := c.em
	q := c.r.URL.Query()
	em.mu.RLock()
	ch := em.chats[c.args["c"]]
	em.mu.RUnlock()
	if ch == nil {
		c.fail(http.StatusNotFound, "NotFound", "Resource not found.")
		return
	}
	if !c.tok.app && !slices.ContainsFunc(ch.members, func(u *userRec) bool { return u.id == c.tok.oid }) {
		c.fail(http.StatusForbidden, "Forbidden", "Forbidden")
		return
	}
	// Without $orderby the listing is by lastModifiedDateTime, but $filter
	// still applies only when $orderby names its property.
	orderBy, ordered := "lastModifiedDateTime", false
	if v, ok := query(q, "orderby"); ok {
		ordered = true
		f := strings.Fields(v)
		if len(f) != 2 || !strings.EqualFold(f[1], "desc") || (!strings.EqualFold(f[0], "lastModifiedDateTime") && !strings.EqualFold(f[0], "createdDateTime")) {
			c.fail(http.StatusBadRequest, "BadRequest", "The only supported $orderby values are 'lastModifiedDateTime desc' and 'createdDateTime desc'.")
			return
		}
		if strings.EqualFold(f[0], "createdDateTime") {
			orderBy = "createdDateTime"
		}
	}
	if v, ok := query(q, "top"); ok {
		if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 50 {
			c.fail(http.StatusBadRequest, "BadRequest", "Invalid page size specified: '"+v+"'. Must be between 1 and 50 inclusive.")
			return
		}
	}
	var gt, lt time.Time
	if v, ok := query(q, "filter"); ok {
		for _, clause := range strings.Split(v, " and ") {
			f := strings.Fields(clause)
			if len(f) != 3 {
				c.fail(http.StatusBadRequest, "BadRequest", "Invalid filter clause.")
				return
			}
			t, err := time.Parse(time.RFC3339Nano, f[2])
			if err != nil || (f[1] != "gt" && f[1] != "lt") || (strings.EqualFold(f[0], "createdDateTime") && f[1] != "lt") ||
				(!strings.EqualFold(f[0], "createdDateTime") && !strings.EqualFold(f[0], "lastModifiedDateTime")) {
				c.fail(http.StatusBadRequest, "BadRequest", "Invalid filter clause.")
				return
			}
			if !ordered || !strings.EqualFold(f[0], orderBy) {
				continue // silently ignored, as documented
			}
			if f[1] == "gt" {
				gt = t
			} else {
				lt = t
			}
		}
	}
	unknown := strings.Contains(strings.ToLower(strings.Join(c.r.Header.Values("Prefer"), ",")), "include-unknown-enum-members")
	em.mu.RLock()
	msgs := slices.Clone(ch.msgs)
	key := func(m *chatMsg) time.Time {
		if orderBy == "createdDateTime" {
			return m.created
		}
		return m.modified
	}
	sort.SliceStable(msgs, func(i, j int) bool { return key(msgs[i]).After(key(msgs[j])) })
	var items [][]byte
	for _, m := range msgs {
		k := key(m)
		if (!gt.IsZero() && !k.After(gt)) || (!lt.IsZero() && !k.Before(lt)) {
			continue
		}
		b, _, _ := em.chatMsgJSON(ch, m, unknown).encode(nil, nil)
		items = append(items, b)
	}
	em.mu.RUnlock()
	c.servePagedCount(items, c.context("chats('"+ch.id+"')/messages"), 20, 50)
}

func (c *call) joinedTeams() {
	o := object{}
	o.set("id", guidFrom(c.em.cfg.Seed, "team"))
	o.set("displayName", "Contoso Everyone")
	o.set("description", "Everyone in the tenant")
	o.set("isArchived", false)
	o.set("tenantId", c.em.cfg.TenantID)
	b, _, _ := o.encode(nil, nil)
	c.servePagedCount([][]byte{b}, c.context("teams"), 100, 999)
}

func (c *call) channels() {
	if c.args["t"] != guidFrom(c.em.cfg.Seed, "team") {
		c.fail(http.StatusNotFound, "NotFound", "No team found with Group Id "+c.args["t"])
		return
	}
	var items [][]byte
	for _, ch := range c.em.channels {
		name := ch.name
		o := object{}
		o.set("id", ch.id)
		o.set("createdDateTime", "2024-01-15T09:00:00Z")
		o.set("displayName", name)
		o.set("description", nil)
		o.set("membershipType", "standard")
		o.set("tenantId", c.em.cfg.TenantID)
		b, _, _ := o.encode(nil, nil)
		items = append(items, b)
	}
	c.servePagedCount(items, c.context("teams('"+c.args["t"]+"')/channels"), 100, 999)
}

// servePagedCount pages like servePaged and adds @odata.count, which Teams
// lists carry.
func (c *call) servePagedCount(items [][]byte, ctx string, def, maxN int) {
	rec := &bufferWriter{h: http.Header{}, status: 200}
	w := c.w
	c.w = rec
	c.servePaged(items, ctx, def, maxN)
	c.w = w
	for k, v := range rec.h {
		w.Header()[k] = v
	}
	body := rec.b.Bytes()
	if rec.status == 200 {
		count := fmt.Appendf(nil, `{"@odata.count":%d,`, len(items))
		body = append(count, body[1:]...)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	}
	w.WriteHeader(rec.status)
	_, _ = w.Write(body)
}

// AddChatMessage posts a message to a chat whose lastModifiedDateTime is
// exactly at (its id, the creation time in milliseconds, is the latest free
// one not after at), and moves the chat's lastUpdatedDateTime to now. Tests
// use it to give messages identical modification times.
func (em *Emulator) AddChatMessage(chatID string, at time.Time) (string, error) {
	return em.addChatMessage(chatID, at, false)
}

// AddPoisonChatMessage posts a message like AddChatMessage whose
// createdDateTime is not a date.
func (em *Emulator) AddPoisonChatMessage(chatID string, at time.Time) (string, error) {
	return em.addChatMessage(chatID, at, true)
}

func (em *Emulator) addChatMessage(chatID string, at time.Time, poison bool) (string, error) {
	em.mu.Lock()
	defer em.mu.Unlock()
	c := em.chats[chatID]
	if c == nil || len(c.members) == 0 {
		return "", fmt.Errorf("emulator: no chat %q", chatID)
	}
	at = at.Truncate(time.Millisecond)
	created := at
	id := strconv.FormatInt(created.UnixMilli(), 10)
	for slices.ContainsFunc(c.msgs, func(m *chatMsg) bool { return m.id == id }) {
		created = created.Add(-time.Millisecond)
		id = strconv.FormatInt(created.UnixMilli(), 10)
	}
	m := &chatMsg{id: id, from: c.members[0], created: created, modified: at, content: "same millisecond " + id,
		contentType: "text", importance: "normal", poison: poison}
	c.msgs = append(c.msgs, m)
	c.updated = em.now()
	em.changed(0) // change notifications
	return id, nil
}
