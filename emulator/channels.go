package emulator

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Teams, channels and channel messages with their replies, as
// learn.microsoft.com/graph/api/user-list-joinedteams, api/team-get,
// api/channel-list, api/channel-get, api/channel-list-messages,
// api/chatmessage-list-replies, api/chatmessage-get and
// api/chatmessage-delta document them.

// team is a team with its members and channels.
type team struct {
	id, name, desc string
	visibility     string
	created        time.Time
	members        []*userRec
	channels       []*channelState
}

// channelState holds a channel's top-level messages as a change log, for
// channel messages delta; each entry's aux is its *channelPost.
type channelState struct {
	id, name, desc string
	team           *team
	private        bool       // membershipType private
	members        []*userRec // a private channel's members
	created        time.Time
	col            *collection
	ids            map[string]bool // message and reply ids: one space per channel
}

// channelPost is a top-level message's replies. A change to a reply
// records the post again in the channel's log, so delta reports the reply
// chain; chainModified is the latest change in the chain, which $filter on
// lastModifiedDateTime reads ("reply chain ... created or changed after the
// specified date time", chatmessage-delta).
type channelPost struct {
	replies       []*channelReply
	chainModified time.Time
}

type channelReply struct {
	id       string
	obj      object
	created  time.Time
	modified time.Time
	deleted  bool
}

const (
	repliesInline = 1000 // replies an $expand carries before replies@odata.nextLink
	channelWindow = 8    // months of top-level messages delta returns
)

var (
	teamScopes        = []string{"Team.ReadBasic.All", "TeamSettings.Read.All", "TeamSettings.ReadWrite.All"}
	joinedTeamsScopes = []string{"Team.ReadBasic.All", "TeamSettings.Read.All", "TeamSettings.ReadWrite.All", "User.Read.All", "User.ReadWrite.All", "Directory.Read.All"}
	channelScopes     = []string{"Channel.ReadBasic.All", "ChannelSettings.Read.All", "ChannelSettings.ReadWrite.All"}
	chanMsgScopes     = []string{"ChannelMessage.Read.All"}
)

func teamRoutes() []route {
	return []route{
		{"users/{u}/joinedTeams", svcTeams, joinedTeamsScopes, joinedTeamsScopes, (*call).joinedTeams},
		{"teams/{t}", svcTeams, teamScopes, teamScopes, (*call).getTeam},
		{"teams/{t}/channels", svcTeams, channelScopes, channelScopes, (*call).listChannels},
		{"teams/{t}/channels/{c}", svcTeams, channelScopes, channelScopes, (*call).getChannel},
		{"teams/{t}/channels/{c}/messages", svcTeams, chanMsgScopes, chanMsgScopes, (*call).listChannelMessages},
		{"teams/{t}/channels/{c}/messages/delta", svcTeams, chanMsgScopes, chanMsgScopes, (*call).channelMessagesDelta},
		{"teams/{t}/channels/{c}/messages/{m}", svcTeams, chanMsgScopes, chanMsgScopes, (*call).getChannelMessage},
		{"teams/{t}/channels/{c}/messages/{m}/replies", svcTeams, chanMsgScopes, chanMsgScopes, (*call).listReplies},
		{"teams/{t}/channels/{c}/messages/{m}/replies/{r}", svcTeams, chanMsgScopes, chanMsgScopes, (*call).getReply},
	}
}

func (em *Emulator) teamID() string { return guidFrom(em.cfg.Seed, "team") }

// genChannels builds the teams. The first, "Contoso Everyone", has every
// user and two standard channels; two more teams have some of the users, a
// standard channel besides General and a private channel of some of their
// members. Replies come from their own generator, so the first team's
// top-level messages are those earlier versions generated.
func (em *Emulator) genChannels(anchor time.Time) {
	r := rand.New(rand.NewPCG(uint64(em.cfg.Seed), 0xc4a8))
	rr := rand.New(rand.NewPCG(uint64(em.cfg.Seed), 0x7e91))
	ver := em.nextVersion()
	everyone := &team{id: em.teamID(), name: "Contoso Everyone", desc: "Everyone in the tenant", visibility: "public",
		created: anchor.AddDate(-2, 0, 0), members: slices.Clone(em.users)}
	em.teams = append(em.teams, everyone)
	for i, name := range []string{"General", "Announcements"} {
		ch := em.newChannel(everyone, fmt.Sprintf("19:%x@thread.tacv2", em.hash64("channel", strconv.Itoa(i))), name, false, nil)
		if len(em.users) == 0 {
			continue
		}
		t := anchor.AddDate(0, -10, 0) // some messages fall outside the 8-month window
		for j := 0; j < em.cfg.ChatMessagesPerChat; j++ {
			t = t.Add(time.Duration(1+r.IntN(24*10)) * time.Hour)
			e := em.addChannelMsg(ch, ver, pick(r, em.users), t, sentence(r, 4+r.IntN(20)))
			em.genReplies(ch, e, ver, rr)
		}
	}
	if len(em.users) == 0 {
		return
	}
	for k, name := range []string{"Project Falcon", "Équipe Marketing"} {
		tm := &team{id: guidFrom(em.cfg.Seed, "team"+strconv.Itoa(k+1)), name: name, visibility: pick(rr, []string{"public", "private"}),
			desc: "The " + name + " team", created: anchor.AddDate(-1, -rr.IntN(6), 0)}
		for i, u := range em.users {
			if i%3 != (k+1)%3 || len(em.users) < 3 {
				tm.members = append(tm.members, u)
			}
		}
		em.teams = append(em.teams, tm)
		chans := []*channelState{
			em.newChannel(tm, fmt.Sprintf("19:%x@thread.tacv2", em.hash64("channel", tm.id, "general")), "General", false, nil),
			em.newChannel(tm, fmt.Sprintf("19:%x@thread.tacv2", em.hash64("channel", tm.id, "design")), pick(rr, []string{"Design", "Roadmap", "Événements"}), false, nil),
			em.newChannel(tm, fmt.Sprintf("19:%x@thread.tacv2", em.hash64("channel", tm.id, "leads")), "Leads", true, tm.members[:max(1, len(tm.members)/2)]),
		}
		for _, ch := range chans {
			t := anchor.AddDate(0, -10, 0)
			for j := 0; j < max(1, em.cfg.ChatMessagesPerChat/2); j++ {
				t = t.Add(time.Duration(1+rr.IntN(24*20)) * time.Hour)
				e := em.addChannelMsg(ch, ver, pick(rr, ch.posters()), t, sentence(rr, 4+rr.IntN(20)))
				em.genReplies(ch, e, ver, rr)
			}
		}
	}
}

func (em *Emulator) newChannel(tm *team, id, name string, private bool, members []*userRec) *channelState {
	ch := &channelState{id: id, name: name, team: tm, private: private, members: slices.Clone(members),
		created: tm.created.Add(time.Duration(len(tm.channels)) * time.Hour), col: newCollection("#microsoft.graph.chatMessage"), ids: map[string]bool{}}
	if name != "General" {
		ch.desc = "About " + strings.ToLower(name)
	}
	tm.channels = append(tm.channels, ch)
	return ch
}

// posters are the users who may post in a channel.
func (ch *channelState) posters() []*userRec {
	if ch.private {
		return ch.members
	}
	return ch.team.members
}

// canSee reports whether u sees ch: a member of its team, and of the
// channel when it is private.
func (ch *channelState) canSee(u *userRec) bool {
	return slices.Contains(ch.team.members, u) && (!ch.private || slices.Contains(ch.members, u))
}

// allChannels lists every channel of every team.
func (em *Emulator) allChannels() []*channelState {
	var out []*channelState
	for _, tm := range em.teams {
		out = append(out, tm.channels...)
	}
	return out
}

// genReplies gives a post zero to four replies in the hours after it.
func (em *Emulator) genReplies(ch *channelState, parent *entry, ver uint64, r *rand.Rand) {
	t := parent.when
	for n := r.IntN(5); n > 0; n-- {
		t = t.Add(time.Duration(1+r.IntN(6*3600)) * time.Second)
		em.addReply(ch, parent, ver, pick(r, ch.posters()), t, sentence(r, 3+r.IntN(15)))
	}
}

// freeID is the message id (creation time in milliseconds) of a message
// created at t, moved on to the next free millisecond in the channel.
func (ch *channelState) freeID(t time.Time) (string, time.Time) {
	id := strconv.FormatInt(t.UnixMilli(), 10)
	for ch.ids[id] {
		t = t.Add(time.Millisecond)
		id = strconv.FormatInt(t.UnixMilli(), 10)
	}
	ch.ids[id] = true
	return id, t
}

// channelMsgObject is a channel message or reply as Graph serves it: a
// chatMessage with channelIdentity and no chatId.
func (em *Emulator) channelMsgObject(ch *channelState, id, parentID string, from *userRec, t time.Time, html string) object {
	m := &chatMsg{id: id, from: from, created: t, modified: t, content: html, contentType: "html", importance: "normal"}
	o := em.chatMsgJSON(&chat{}, m, false)
	o.set("chatId", nil)
	if parentID != "" {
		o.set("replyToId", parentID)
	}
	o.set("webUrl", "https://teams.microsoft.com/l/message/"+url.PathEscape(ch.id)+"/"+id+"?groupId="+ch.team.id+
		"&tenantId="+em.cfg.TenantID+"&createdTime="+id+"&parentMessageId="+orDefault(parentID, id))
	o.set("channelIdentity", map[string]string{"teamId": ch.team.id, "channelId": ch.id})
	return o
}

func (em *Emulator) addChannelMsg(ch *channelState, ver uint64, from *userRec, t time.Time, text string) *entry {
	id, t := ch.freeID(t)
	o := em.channelMsgObject(ch, id, "", from, t, "<p>"+text+"</p>")
	o.set("subject", nilIfEmpty(pick(rand.New(rand.NewPCG(uint64(t.UnixNano()), 1)), []string{"", "", "Heads-up", "Release notes"})))
	return ch.col.add(ver, &entry{key: id, id: id, obj: o, when: t, aux: &channelPost{chainModified: t}})
}

// addReply posts a reply; the post is recorded again so that delta
// reports its chain.
func (em *Emulator) addReply(ch *channelState, parent *entry, ver uint64, from *userRec, t time.Time, text string) *channelReply {
	id, t := ch.freeID(t)
	rp := &channelReply{id: id, created: t, modified: t, obj: em.channelMsgObject(ch, id, parent.id, from, t, "<p>"+text+"</p>")}
	post := parent.aux.(*channelPost)
	post.replies = append(post.replies, rp)
	em.chainChanged(ch, parent, ver, t)
	return rp
}

func (em *Emulator) chainChanged(ch *channelState, parent *entry, ver uint64, t time.Time) {
	post := parent.aux.(*channelPost)
	if t.After(post.chainModified) {
		post.chainModified = t
	}
	ch.col.update(ver, parent)
}

// editChannelObject and deleteChannelObject change a message or reply as
// Teams does: an edit sets lastEditedDateTime; a deletion keeps the id,
// sets deletedDateTime and empties the body.
func editChannelObject(o object, now time.Time, text string) {
	o.set("lastModifiedDateTime", ms(now))
	o.set("lastEditedDateTime", ms(now))
	o.set("etag", strconv.FormatInt(now.UnixMilli(), 10))
	o.set("body", map[string]string{"contentType": "html", "content": "<p>" + text + " (edited)</p>"})
}

func deleteChannelObject(o object, now time.Time) {
	o.set("lastModifiedDateTime", ms(now))
	o.set("deletedDateTime", ms(now))
	o.set("body", map[string]string{"contentType": "html", "content": ""})
}

// mutateChannels changes the first team's top-level messages (the
// mutations of earlier versions); mutateChannelChains the rest.
func (em *Emulator) mutateChannels(r *rand.Rand, ver uint64) string {
	if len(em.teams) == 0 || len(em.users) == 0 {
		return "no-op"
	}
	ch := pick(r, em.teams[0].channels)
	now := em.now()
	live := ch.col.live()
	switch op := r.IntN(100); {
	case op < 60 || len(live) == 0:
		e := em.addChannelMsg(ch, ver, pick(r, em.users), now, sentence(r, 5+r.IntN(10)))
		return "channelMessage created " + e.id
	case op < 85:
		e := pick(r, live)
		editChannelObject(e.obj, now, sentence(r, 6))
		em.touchPost(e, now)
		ch.col.update(ver, e, "lastModifiedDateTime", "lastEditedDateTime", "etag", "body")
		return "channelMessage edited " + e.id
	default:
		e := pick(r, live)
		deleteChannelObject(e.obj, now)
		em.touchPost(e, now)
		ch.col.update(ver, e, "lastModifiedDateTime", "deletedDateTime", "body")
		return "channelMessage deleted " + e.id
	}
}

func (em *Emulator) touchPost(e *entry, now time.Time) {
	if p := e.aux.(*channelPost); now.After(p.chainModified) {
		p.chainModified = now
	}
}

// mutateChannelChains posts, edits and deletes replies in any channel, and
// posts in the other teams' channels.
func (em *Emulator) mutateChannelChains(r *rand.Rand, ver uint64) string {
	chans := em.allChannels()
	if len(chans) == 0 || len(em.users) == 0 {
		return "no-op"
	}
	ch := pick(r, chans)
	now := em.now()
	live := ch.col.live()
	op := r.IntN(100)
	if len(live) == 0 || (op >= 80 && ch.team != em.teams[0]) {
		e := em.addChannelMsg(ch, ver, pick(r, ch.posters()), now, sentence(r, 5+r.IntN(10)))
		return "channelMessage created " + ch.id + "/" + e.id
	}
	parent := pick(r, live)
	post := parent.aux.(*channelPost)
	var replies []*channelReply
	for _, rp := range post.replies {
		if !rp.deleted {
			replies = append(replies, rp)
		}
	}
	switch {
	case op < 45 || op >= 80 || len(replies) == 0:
		rp := em.addReply(ch, parent, ver, pick(r, ch.posters()), now, sentence(r, 3+r.IntN(10)))
		return "channelReply created " + ch.id + "/" + parent.id + "/" + rp.id
	case op < 65:
		rp := pick(r, replies)
		editChannelObject(rp.obj, now, sentence(r, 5))
		rp.modified = now
		em.chainChanged(ch, parent, ver, now)
		return "channelReply edited " + ch.id + "/" + parent.id + "/" + rp.id
	default:
		rp := pick(r, replies)
		deleteChannelObject(rp.obj, now)
		rp.modified, rp.deleted = now, true
		em.chainChanged(ch, parent, ver, now)
		return "channelReply deleted " + ch.id + "/" + parent.id + "/" + rp.id
	}
}

// Ground truth.

func (em *Emulator) teamObject(tm *team) object {
	o := object{}
	o.set("id", tm.id)
	o.set("createdDateTime", ms(tm.created))
	o.set("displayName", tm.name)
	o.set("description", tm.desc)
	o.set("internalId", fmt.Sprintf("19:%x@thread.tacv2", em.hash64("team internal", tm.id)))
	o.set("classification", nil)
	o.set("specialization", "none")
	o.set("visibility", tm.visibility)
	o.set("webUrl", "https://teams.microsoft.com/l/team/"+url.PathEscape(fmt.Sprintf("19:%x@thread.tacv2", em.hash64("team internal", tm.id)))+"/conversations?groupId="+tm.id+"&tenantId="+em.cfg.TenantID)
	o.set("isArchived", false)
	o.set("isMembershipLimitedToOwners", false)
	o.set("tenantId", em.cfg.TenantID)
	return o
}

func (em *Emulator) channelObject(ch *channelState) object {
	o := object{}
	o.set("id", ch.id)
	o.set("createdDateTime", ms(ch.created))
	o.set("displayName", ch.name)
	o.set("description", nilIfEmpty(ch.desc))
	o.set("isFavoriteByDefault", nil)
	o.set("email", "")
	o.set("tenantId", em.cfg.TenantID)
	o.set("webUrl", "https://teams.microsoft.com/l/channel/"+url.PathEscape(ch.id)+"/"+url.PathEscape(ch.name)+"?groupId="+ch.team.id+"&tenantId="+em.cfg.TenantID)
	if ch.private {
		o.set("membershipType", "private")
	} else {
		o.set("membershipType", "standard")
	}
	return o
}

func (em *Emulator) userTeams(u *userRec) []*team {
	var out []*team
	for _, tm := range em.teams {
		if slices.Contains(tm.members, u) {
			out = append(out, tm)
		}
	}
	return out
}

func (em *Emulator) teamsTruth(u *userRec) []json.RawMessage {
	out := []json.RawMessage{}
	for _, tm := range em.userTeams(u) {
		b, _, _ := em.teamObject(tm).encode(nil, nil)
		out = append(out, b)
	}
	return out
}

// channelsTruth lists the channels u sees, with @emulator.teamId.
func (em *Emulator) channelsTruth(u *userRec) []json.RawMessage {
	out := []json.RawMessage{}
	for _, ch := range em.allChannels() {
		if ch.canSee(u) {
			o := em.channelObject(ch)
			o.set("@emulator.teamId", ch.team.id)
			b, _, _ := o.encode(nil, nil)
			out = append(out, b)
		}
	}
	return out
}

// channelCut is the oldest a top-level message delta returns may be. It
// moves a day at a time (Graph does not document finer), as the generated
// data is anchored to the day: a sync and the truth it is compared with
// see the same window unless midnight falls between them.
func (em *Emulator) channelCut() time.Time {
	return em.now().UTC().Truncate(24*time.Hour).AddDate(0, -channelWindow, 0)
}

// channelMessagesTruth lists, for the channels u sees, the top-level
// messages of the last 8 months (what delta returns) and all their
// replies.
func (em *Emulator) channelMessagesTruth(u *userRec) []json.RawMessage {
	out := []json.RawMessage{}
	cut := em.channelCut()
	for _, ch := range em.allChannels() {
		if !ch.canSee(u) {
			continue
		}
		for _, e := range ch.col.live() {
			if !e.when.After(cut) {
				continue
			}
			b, _, _ := e.obj.encode(nil, nil)
			out = append(out, b)
			for _, rp := range e.aux.(*channelPost).replies {
				b, _, _ := rp.obj.encode(nil, nil)
				out = append(out, b)
			}
		}
	}
	return out
}

// Handlers.

// teamFor resolves {t} and checks a delegated caller is a member; on
// failure it has answered.
func (c *call) teamFor() *team {
	c.em.mu.RLock()
	defer c.em.mu.RUnlock()
	for _, tm := range c.em.teams {
		if strings.EqualFold(tm.id, c.args["t"]) {
			if !c.tok.app && !slices.ContainsFunc(tm.members, func(u *userRec) bool { return u.id == c.tok.oid }) {
				c.fail(http.StatusForbidden, "Forbidden", "The caller is not a member of the team.")
				return nil
			}
			return tm
		}
	}
	c.fail(http.StatusNotFound, "NotFound", "No team found with Group Id "+c.args["t"])
	return nil
}

// channelFor resolves {t} and {c}; a private channel needs a delegated
// caller among its members.
func (c *call) channelFor() *channelState {
	tm := c.teamFor()
	if tm == nil {
		return nil
	}
	c.em.mu.RLock()
	defer c.em.mu.RUnlock()
	for _, ch := range tm.channels {
		if ch.id == c.args["c"] {
			if !c.tok.app && ch.private && !slices.ContainsFunc(ch.members, func(u *userRec) bool { return u.id == c.tok.oid }) {
				c.fail(http.StatusForbidden, "Forbidden", "The caller is not a member of the private channel.")
				return nil
			}
			return ch
		}
	}
	c.fail(http.StatusNotFound, "NotFound", "Channel not found.")
	return nil
}

// protectedAPI refuses application tokens of apps not granted Teams'
// protected APIs (teams-protected-apis: listing and getting channel
// messages and replies with application permissions).
func (c *call) protectedAPI() bool {
	if !c.tok.app {
		return true
	}
	c.em.auth.mu.Lock()
	app := c.em.auth.apps[c.tok.appid]
	denied := app != nil && app.NoProtectedAPIs
	c.em.auth.mu.Unlock()
	if denied {
		c.fail(http.StatusForbidden, "Forbidden", "Invoked API requires Protected API access in application-only context when not using Resource Specific Consent. Visit https://docs.microsoft.com/en-us/graph/teams-protected-apis for more details.")
		return false
	}
	return true
}

// joinedTeams serves /users/{id}/joinedTeams: id, displayName and
// description only (a documented known issue); with delegated permissions
// only for the signed-in user.
func (c *call) joinedTeams() {
	if !c.tok.app && c.user.id != c.tok.oid {
		c.fail(http.StatusForbidden, "Forbidden", "Requested API is not supported for another user in delegated context.")
		return
	}
	c.em.mu.RLock()
	var items [][]byte
	for _, tm := range c.em.userTeams(c.user) {
		o := object{}
		o.set("id", tm.id)
		o.set("displayName", tm.name)
		o.set("description", tm.desc)
		b, _, _ := o.encode(nil, nil)
		items = append(items, b)
	}
	c.em.mu.RUnlock()
	c.servePagedCount(items, c.context("teams"), 100, 999)
}

func (c *call) getTeam() {
	tm := c.teamFor()
	if tm == nil {
		return
	}
	c.writeEntity(func() object { return c.em.teamObject(tm) }, "teams/$entity")
}

// listChannels serves /teams/{id}/channels: every channel to applications,
// the private ones only to their members with delegated permissions.
func (c *call) listChannels() {
	tm := c.teamFor()
	if tm == nil {
		return
	}
	items := c.encodeAll(func() []object {
		return objectsOf(tm.channels, func(ch *channelState) object {
			if !c.tok.app && ch.private && !slices.ContainsFunc(ch.members, func(u *userRec) bool { return u.id == c.tok.oid }) {
				return nil
			}
			return c.em.channelObject(ch)
		})
	})
	c.servePagedCount(items, c.context("teams('"+tm.id+"')/channels"), 100, 999)
}

func (c *call) getChannel() {
	ch := c.channelFor()
	if ch == nil {
		return
	}
	c.writeEntity(func() object { return c.em.channelObject(ch) }, "teams('"+ch.team.id+"')/channels/$entity")
}

// withReplies adds replies@odata.count, replies@odata.nextLink (past 1,000)
// and replies, newest first, as $expand=replies does.
func (c *call) withReplies(ch *channelState, e *entry, o object) object {
	replies := e.aux.(*channelPost).replies
	o = append(o, field{"replies@odata.count", raw(len(replies))})
	if len(replies) > repliesInline {
		o = append(o, field{"replies@odata.nextLink", raw(c.base() + "/teams/" + ch.team.id + "/channels/" + url.PathEscape(ch.id) +
			"/messages/" + e.id + "/replies?$skiptoken=" + c.em.sealToken(cursorToken{Key: "list" + "teams/{t}/channels/{c}/messages/{m}/replies",
			Cursor: repliesInline, Gen: c.em.currentGen(), Issued: c.em.now().Unix()}))})
	}
	var arr []byte
	arr = append(arr, '[')
	for i, k := 0, len(replies)-1; k >= 0 && i < repliesInline; i, k = i+1, k-1 {
		if i > 0 {
			arr = append(arr, ',')
		}
		b, _, _ := replies[k].obj.encode(nil, nil)
		arr = append(arr, b...)
	}
	return append(o, field{"replies", append(arr, ']')})
}

// expandReplies reads $expand: only replies is supported.
func (c *call) expandReplies(v string) (bool, bool) {
	if strings.TrimSpace(v) == "" {
		return false, true
	}
	if !strings.EqualFold(strings.TrimSpace(v), "replies") {
		c.fail(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Expand '%s' is not supported. Only replies can be expanded.", v))
		return false, false
	}
	return true, true
}

func checkTop(c *call) bool {
	if v, ok := query(c.r.URL.Query(), "top"); ok {
		if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 50 {
			c.fail(http.StatusBadRequest, "BadRequest", "Invalid page size specified: '"+v+"'. Must be between 1 and 50 inclusive.")
			return false
		}
	}
	return true
}

// listChannelMessages serves /teams/{id}/channels/{id}/messages: top-level
// messages, newest first, 20 a page by default and 50 at most, with
// @odata.count and $expand=replies; any age (delta keeps 8 months).
func (c *call) listChannelMessages() {
	ch := c.channelFor()
	if ch == nil || !c.protectedAPI() || !checkTop(c) {
		return
	}
	v, _ := query(c.r.URL.Query(), "expand")
	expand, ok := c.expandReplies(v)
	if !ok {
		return
	}
	c.em.mu.RLock()
	live := ch.col.live()
	sortEntries(live, func(a, b *entry) bool { return a.when.After(b.when) })
	items := make([][]byte, 0, len(live))
	for _, e := range live {
		o := e.obj
		if expand {
			o = c.withReplies(ch, e, e.obj.clone())
		}
		b, _, _ := o.encode(nil, nil)
		items = append(items, b)
	}
	c.em.mu.RUnlock()
	c.servePagedCount(items, c.context("teams('"+ch.team.id+"')/channels('"+url.QueryEscape(ch.id)+"')/messages"), 20, 50)
}

// postFor resolves {t}, {c} and the top-level message {m} of a protected
// Teams API (teams-protected-apis); on failure it has answered.
func (c *call) postFor() (*channelState, *entry) {
	ch := c.channelFor()
	if ch == nil || !c.protectedAPI() {
		return nil, nil
	}
	c.em.mu.RLock()
	e := ch.col.entries[c.args["m"]]
	c.em.mu.RUnlock()
	if e == nil || e.deleted {
		c.fail(http.StatusNotFound, "NotFound", "Message not found.")
		return nil, nil
	}
	return ch, e
}

func (c *call) getChannelMessage() {
	ch, e := c.postFor()
	if e == nil {
		return
	}
	c.em.mu.RLock()
	b, _, _ := e.obj.encode(nil, nil)
	c.em.mu.RUnlock()
	c.writeJSON(withContext(b, c.context("teams('"+ch.team.id+"')/channels('"+url.QueryEscape(ch.id)+"')/messages/$entity")))
}

// listReplies serves .../messages/{id}/replies: newest first, 20 a page by
// default and 50 at most, with @odata.count.
func (c *call) listReplies() {
	if !checkTop(c) {
		return
	}
	ch, e := c.postFor()
	if e == nil {
		return
	}
	c.em.mu.RLock()
	replies := e.aux.(*channelPost).replies
	items := make([][]byte, 0, len(replies))
	for k := len(replies) - 1; k >= 0; k-- {
		b, _, _ := replies[k].obj.encode(nil, nil)
		items = append(items, b)
	}
	c.em.mu.RUnlock()
	c.servePagedCount(items, c.context("teams('"+ch.team.id+"')/channels('"+url.QueryEscape(ch.id)+"')/messages('"+e.id+"')/replies"), 20, 50)
}

func (c *call) getReply() {
	ch, e := c.postFor()
	if e == nil {
		return
	}
	c.em.mu.RLock()
	var b []byte
	for _, rp := range e.aux.(*channelPost).replies {
		if rp.id == c.args["r"] {
			b, _, _ = rp.obj.encode(nil, nil)
		}
	}
	c.em.mu.RUnlock()
	if b == nil {
		c.fail(http.StatusNotFound, "NotFound", "Message not found.")
		return
	}
	c.writeJSON(withContext(b, c.context("teams('"+ch.team.id+"')/channels('"+url.QueryEscape(ch.id)+"')/messages('"+e.id+"')/replies/$entity")))
}

// channelMessagesDelta serves /teams/{id}/channels/{id}/messages/delta:
// top-level messages of the last 8 months, without replies unless
// $expand=replies; $top at most 50; $filter only lastModifiedDateTime gt,
// which selects reply chains changed after that time; a change to a reply
// reports its chain again in the next round.
func (c *call) channelMessagesDelta() {
	em := c.em
	ch := c.channelFor()
	if ch == nil {
		return
	}
	c.serveDelta(deltaSpec{
		key: "chm/" + ch.id, col: func() *collection { return ch.col },
		path: "/teams/" + ch.team.id + "/channels/" + url.PathEscape(ch.id) + "/messages/delta", context: c.context("Collection(chatMessage)"),
		defSize: 20, maxSize: 50,
		initial: func(c *call, q url.Values) (map[string]string, bool) {
			opts, ok := deltaOptions(c, q, "BadRequest", "Query option '%s' is not supported.", map[string]deltaOption{
				"top": func(c *call, v string) (string, bool) {
					if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 50 {
						return reject(c, "BadRequest", "Invalid page size specified: '"+v+"'. Must be between 1 and 50 inclusive.")
					}
					return v, true
				},
				"filter": func(c *call, v string) (string, bool) {
					f := strings.Fields(v)
					if len(f) != 3 || !strings.EqualFold(f[0], "lastModifiedDateTime") || f[1] != "gt" {
						return reject(c, "BadRequest", "Only lastModifiedDateTime gt is supported in $filter.")
					}
					if _, err := time.Parse(time.RFC3339Nano, f[2]); err != nil {
						return reject(c, "BadRequest", "Invalid filter clause.")
					}
					return v, true
				},
				"expand": func(c *call, v string) (string, bool) {
					_, ok := c.expandReplies(v)
					return "replies", ok
				},
			})
			if ok {
				opts["cut"] = em.channelCut().Format(time.RFC3339)
			}
			return opts, ok
		},
		filter: func(opts map[string]string) func(*entry, uint64) bool {
			cut, _ := time.Parse(time.RFC3339, opts["cut"])
			var since time.Time
			if f := strings.Fields(opts["$filter"]); len(f) == 3 {
				since, _ = time.Parse(time.RFC3339Nano, f[2])
			}
			return func(e *entry, _ uint64) bool {
				if !e.when.After(cut) {
					return false
				}
				return since.IsZero() || e.aux.(*channelPost).chainModified.After(since)
			}
		},
		expand: func(opts map[string]string, _ uint64) func(*entry, object) object {
			if opts["$expand"] != "replies" {
				return nil
			}
			return func(e *entry, o object) object { return c.withReplies(ch, e, o) }
		},
	})
}
