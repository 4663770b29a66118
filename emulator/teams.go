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
	// updated is lastUpdatedDateTime, which Microsoft documents as the
	// "date and time at which the chat was renamed or the list of members
	// was last changed" (learn.microsoft.com/graph/api/resources/chat):
	// messages, new, edited or deleted, leave it alone.
	updated time.Time
	members []*userRec
	msgs    []*chatMsg
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
			// A group's third member may be drawn again: each user is a
			// member once.
			var members []*userRec
			for _, m := range c.members {
				if !slices.Contains(members, m) {
					members = append(members, m)
				}
			}
			c.members = members
			em.chats[c.id] = c
			t := created
			for j := 0; j < em.cfg.ChatMessagesPerChat; j++ {
				t = t.Add(time.Duration(1+r.IntN(3600*6)) * time.Second)
				if j == 2 && c.kind == "group" {
					// The chat was named then: a rename moves lastUpdatedDateTime.
					em.postChatEvent(c, t, em.renamedDetail(c, c.members[0]))
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
	c.msgs = append(c.msgs, m)
	return m
}

// postChatEvent adds the system event message Teams posts into a chat when
// it is renamed or its members change: no sender, the body
// <systemEventMessage/> and the event in eventDetail. Called with em.mu
// held.
func (em *Emulator) postChatEvent(c *chat, t time.Time, detail map[string]any) *chatMsg {
	m := em.addChatMsg(c, nil, t, "<systemEventMessage/>", "html", nil)
	m.event = detail
	// The event moves lastUpdatedDateTime to its own time, which a message
	// in the same millisecond may have pushed on by one.
	c.updated = m.created
	return m
}

func (em *Emulator) teamworkUser(u *userRec, named bool) map[string]any {
	var name any
	if named {
		name = u.name
	}
	return map[string]any{"@odata.type": "#microsoft.graph.teamworkUserIdentity", "id": u.id, "displayName": name,
		"userIdentityType": "aadUser", "tenantId": em.cfg.TenantID}
}

func (em *Emulator) initiator(by *userRec) map[string]any {
	return map[string]any{"application": nil, "device": nil, "user": em.teamworkUser(by, false)}
}

func (em *Emulator) renamedDetail(c *chat, by *userRec) map[string]any {
	return map[string]any{"@odata.type": "#microsoft.graph.chatRenamedEventMessageDetail", "chatId": c.id,
		"chatDisplayName": c.topic, "initiator": em.initiator(by)}
}

// renameChat sets the topic, as Teams does, with a chatRenamedEventMessageDetail
// event; it moves lastUpdatedDateTime. Called with em.mu held.
func (em *Emulator) renameChat(c *chat, topic string, by *userRec, at time.Time) *chatMsg {
	c.topic = topic
	return em.postChatEvent(c, at, em.renamedDetail(c, by))
}

// addChatMember adds u to c with a membersAddedEventMessageDetail event and
// indexes the chat under u; it moves lastUpdatedDateTime. Called with
// em.mu held.
func (em *Emulator) addChatMember(c *chat, u, by *userRec, at time.Time) *chatMsg {
	c.members = append(c.members, u)
	em.indexChat(u, c)
	return em.postChatEvent(c, at, map[string]any{"@odata.type": "#microsoft.graph.membersAddedEventMessageDetail",
		"visibleHistoryStartDateTime": "0001-01-01T00:00:00Z", "members": []any{em.teamworkUser(u, false)},
		"initiator": em.initiator(by)})
}

// removeChatMember takes u out of c with a membersDeletedEventMessageDetail
// event; the chat leaves u's list. It moves lastUpdatedDateTime. Called with
// em.mu held.
func (em *Emulator) removeChatMember(c *chat, u, by *userRec, at time.Time) *chatMsg {
	c.members = slices.DeleteFunc(c.members, func(x *userRec) bool { return x == u })
	em.chatsByUser[u] = slices.DeleteFunc(em.chatsByUser[u], func(x *chat) bool { return x == c })
	return em.postChatEvent(c, at, map[string]any{"@odata.type": "#microsoft.graph.membersDeletedEventMessageDetail",
		"members": []any{em.teamworkUser(u, false)}, "initiator": em.initiator(by)})
}

// indexChat adds c to u's chats, keeping them in id order.
func (em *Emulator) indexChat(u *userRec, c *chat) {
	list := em.chatsByUser[u]
	i, found := slices.BinarySearchFunc(list, c.id, func(x *chat, id string) int { return strings.Compare(x.id, id) })
	if !found {
		em.chatsByUser[u] = slices.Insert(list, i, c)
	}
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

// mutateChats changes one of u's chats: new, edited and deleted messages
// (which leave lastUpdatedDateTime alone), and in group chats renames and
// member changes (which move it).
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
	op := r.IntN(100)
	if op >= 80 && c.kind != "group" {
		op = r.IntN(80) // one-on-one and meeting chats keep their members and name here
	}
	switch {
	case op < 50 || len(live) == 0:
		m := em.addChatMsg(c, pick(r, c.members), now, sentence(r, 4+r.IntN(12)), "text", r)
		return "chatMessage created " + c.id + "/" + m.id
	case op < 70:
		m := pick(r, live)
		editChatMsg(m, now)
		return "chatMessage edited " + c.id + "/" + m.id
	case op < 80:
		m := pick(r, live)
		t := now
		m.deleted, m.modified = &t, t
		return "chatMessage deleted " + c.id + "/" + m.id
	case op < 90:
		em.renameChat(c, pick(r, []string{"Project ", "Équipe ", "チーム ", "Launch "})+pick(r, words), u, now)
		return "chat renamed " + c.id
	default:
		var outside []*userRec
		for _, x := range em.users {
			if !slices.Contains(c.members, x) {
				outside = append(outside, x)
			}
		}
		// Keep at least two members, and the first (who started the chat).
		if len(c.members) > 2 && (len(outside) == 0 || r.IntN(2) == 0) {
			x := pick(r, c.members[1:])
			em.removeChatMember(c, x, c.members[0], now)
			return "chat member removed " + c.id + "/" + x.id
		}
		if len(outside) == 0 {
			return "no-op"
		}
		x := pick(r, outside)
		em.addChatMember(c, x, u, now)
		return "chat member added " + c.id + "/" + x.id
	}
}

func editChatMsg(m *chatMsg, at time.Time) {
	m.edited, m.modified = &at, at
	m.content += " (edited)"
}

// listChats serves /users/{id}/chats: $top at most 50; $expand of members,
// lastMessagePreview or both; $orderby only lastMessagePreview/createdDateTime
// desc; otherwise ordered by lastUpdatedDateTime descending.
// https://learn.microsoft.com/graph/api/chat-list
func (c *call) listChats() {
	if !c.tok.app && c.user.id != c.tok.oid {
		c.fail(http.StatusForbidden, "Forbidden", "Requested API is not supported for another user in delegated context.")
		return
	}
	q := c.r.URL.Query()
	var members, preview bool
	if expand, ok := query(q, "expand"); ok {
		// OData's $expand takes a comma-separated list, and the page names
		// both properties as supported without ruling out the pair.
		for _, p := range strings.Split(expand, ",") {
			switch p = strings.TrimSpace(p); {
			case strings.EqualFold(p, "members"):
				members = true
			case strings.EqualFold(p, "lastMessagePreview"):
				preview = true
			default:
				c.fail(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Expand '%s' is not supported.", p))
				return
			}
		}
	}
	byPreview := false
	if v, ok := query(q, "orderby"); ok {
		f := strings.Fields(v)
		if len(f) != 2 || !strings.EqualFold(f[0], "lastMessagePreview/createdDateTime") || !strings.EqualFold(f[1], "desc") {
			c.fail(http.StatusBadRequest, "BadRequest", "The only supported $orderby value is 'lastMessagePreview/createdDateTime desc'.")
			return
		}
		byPreview = true
	}
	if v, ok := query(q, "top"); ok {
		if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 50 {
			c.fail(http.StatusBadRequest, "BadRequest", "Invalid page size specified: '"+v+"'. Must be between 1 and 50 inclusive.")
			return
		}
	}
	unknown := includeUnknown(c.r)
	c.em.mu.RLock()
	chats := c.em.userChats(c.user)
	if byPreview {
		// Chats without messages have no preview and come last.
		sort.SliceStable(chats, func(i, j int) bool {
			a, b := latestChatMsg(chats[i]), latestChatMsg(chats[j])
			return a != nil && (b == nil || a.created.After(b.created))
		})
	}
	var items [][]byte
	for _, ch := range chats {
		o := c.em.chatJSON(ch, members)
		if preview {
			o = append(o, field{"lastMessagePreview@odata.context", raw(c.context("chats('" + url.QueryEscape(ch.id) + "')/lastMessagePreview/$entity"))})
			o = append(o, field{"lastMessagePreview", c.em.chatMessageInfo(ch, unknown)})
		}
		b, _, _ := o.encode(nil, nil)
		items = append(items, b)
	}
	c.em.mu.RUnlock()
	var exp []string
	if members {
		exp = append(exp, "members()")
	}
	if preview {
		exp = append(exp, "lastMessagePreview()")
	}
	ctx := "chats"
	if len(exp) > 0 {
		ctx += "(" + strings.Join(exp, ",") + ")"
	}
	c.servePagedCount(items, c.context(ctx), 20, 50)
}

// latestChatMsg is the chat's newest message by creation, deleted or not,
// system events included: the one lastMessagePreview shows.
func latestChatMsg(c *chat) *chatMsg {
	var last *chatMsg
	for _, m := range c.msgs {
		if last == nil || m.created.After(last.created) {
			last = m
		}
	}
	return last
}

// chatMessageInfo encodes lastMessagePreview: id, createdDateTime,
// isDeleted, messageType, body, from and eventDetail of the newest message,
// or null when the chat has none.
// https://learn.microsoft.com/graph/api/resources/chatmessageinfo
func (em *Emulator) chatMessageInfo(c *chat, includeUnknown bool) []byte {
	m := latestChatMsg(c)
	if m == nil {
		return []byte("null")
	}
	full := em.chatMsgJSON(c, m, includeUnknown)
	o := object{}
	o.set("@odata.type", "#microsoft.graph.chatMessageInfo")
	o.set("id", m.id)
	o.set("createdDateTime", ms(m.created))
	o.set("isDeleted", m.deleted != nil)
	for _, k := range []string{"messageType", "body", "from", "eventDetail"} {
		o = append(o, field{k, full.get(k)})
	}
	b, _, _ := o.encode(nil, nil)
	return b
}

func includeUnknown(r *http.Request) bool {
	return strings.Contains(strings.ToLower(strings.Join(r.Header.Values("Prefer"), ",")), "include-unknown-enum-members")
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
	if !c.protectedAPI() {
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
	unknown := includeUnknown(c.r)
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
// one not after at). The chat's lastUpdatedDateTime does not move: Microsoft
// documents it as changing with renames and member changes only. Tests use
// it to give messages identical modification times.
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
	em.changed(0) // change notifications
	return id, nil
}

// chatMsgOf finds a live user message; called with em.mu held.
func (em *Emulator) chatMsgOf(chatID, msgID string) (*chatMsg, error) {
	c := em.chats[chatID]
	if c == nil {
		return nil, fmt.Errorf("emulator: no chat %q", chatID)
	}
	for _, m := range c.msgs {
		if m.id == msgID {
			if m.deleted != nil || m.from == nil {
				return nil, fmt.Errorf("emulator: message %q of chat %q is deleted or a system event", msgID, chatID)
			}
			return m, nil
		}
	}
	return nil, fmt.Errorf("emulator: no message %q in chat %q", msgID, chatID)
}

// EditChatMessage edits a chat message now: lastModifiedDateTime and
// lastEditedDateTime move, the chat's lastUpdatedDateTime does not.
func (em *Emulator) EditChatMessage(chatID, msgID string) error {
	em.mu.Lock()
	defer em.mu.Unlock()
	m, err := em.chatMsgOf(chatID, msgID)
	if err != nil {
		return err
	}
	editChatMsg(m, em.now())
	em.changed(0) // change notifications
	return nil
}

// DeleteChatMessage deletes a chat message now: it keeps its id, gets
// deletedDateTime and an empty body; the chat's lastUpdatedDateTime does
// not move.
func (em *Emulator) DeleteChatMessage(chatID, msgID string) error {
	em.mu.Lock()
	defer em.mu.Unlock()
	m, err := em.chatMsgOf(chatID, msgID)
	if err != nil {
		return err
	}
	t := em.now()
	m.deleted, m.modified = &t, t
	em.changed(0) // change notifications
	return nil
}

// RenameChat sets a group or meeting chat's topic now, posting the
// chatRenamedEventMessageDetail system message; lastUpdatedDateTime moves.
// It returns the system message's id.
func (em *Emulator) RenameChat(chatID, topic string) (string, error) {
	em.mu.Lock()
	defer em.mu.Unlock()
	c := em.chats[chatID]
	switch {
	case c == nil:
		return "", fmt.Errorf("emulator: no chat %q", chatID)
	case c.kind == "oneOnOne":
		return "", fmt.Errorf("emulator: chat %q is one-on-one and has no topic", chatID)
	case strings.TrimSpace(topic) == "":
		return "", fmt.Errorf("emulator: empty topic for chat %q", chatID)
	}
	id := em.renameChat(c, topic, c.members[0], em.now()).id
	em.changed(0) // change notifications
	return id, nil
}

// AddChatMember adds a user to a group chat now, posting the
// membersAddedEventMessageDetail system message; lastUpdatedDateTime moves
// and the chat joins the user's chat list. It returns the system message's id.
func (em *Emulator) AddChatMember(chatID, userID string) (string, error) {
	em.mu.Lock()
	defer em.mu.Unlock()
	c, u, err := em.groupChatAndUser(chatID, userID)
	if err != nil {
		return "", err
	}
	if slices.Contains(c.members, u) {
		return "", fmt.Errorf("emulator: user %q is already in chat %q", userID, chatID)
	}
	id := em.addChatMember(c, u, c.members[0], em.now()).id
	em.changed(0) // change notifications
	return id, nil
}

// RemoveChatMember takes a user out of a group chat now, posting the
// membersDeletedEventMessageDetail system message; lastUpdatedDateTime moves
// and the chat leaves the user's chat list. The chat keeps at least two
// members. It returns the system message's id.
func (em *Emulator) RemoveChatMember(chatID, userID string) (string, error) {
	em.mu.Lock()
	defer em.mu.Unlock()
	c, u, err := em.groupChatAndUser(chatID, userID)
	if err != nil {
		return "", err
	}
	switch {
	case !slices.Contains(c.members, u):
		return "", fmt.Errorf("emulator: user %q is not in chat %q", userID, chatID)
	case len(c.members) <= 2:
		return "", fmt.Errorf("emulator: chat %q would have fewer than two members", chatID)
	}
	by := c.members[0]
	if by == u {
		by = c.members[1]
	}
	id := em.removeChatMember(c, u, by, em.now()).id
	em.changed(0) // change notifications
	return id, nil
}

func (em *Emulator) groupChatAndUser(chatID, userID string) (*chat, *userRec, error) {
	c := em.chats[chatID]
	if c == nil {
		return nil, nil, fmt.Errorf("emulator: no chat %q", chatID)
	}
	if c.kind != "group" {
		return nil, nil, fmt.Errorf("emulator: chat %q is %s; only group chats change members", chatID, c.kind)
	}
	u := em.lookupUser(userID)
	if u == nil {
		return nil, nil, fmt.Errorf("emulator: no user %q", userID)
	}
	return c, u, nil
}
