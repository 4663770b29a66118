package emulator

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// channelState holds a channel's top-level messages as a change log, for
// channel messages delta.
type channelState struct {
	id, name string
	col      *collection
}

func (em *Emulator) teamID() string { return guidFrom(em.cfg.Seed, "team") }

func (em *Emulator) genChannels(anchor time.Time) {
	r := rand.New(rand.NewPCG(uint64(em.cfg.Seed), 0xc4a8))
	ver := em.nextVersion()
	for i, name := range []string{"General", "Announcements"} {
		ch := &channelState{id: fmt.Sprintf("19:%x@thread.tacv2", em.hash64("channel", strconv.Itoa(i))), name: name,
			col: newCollection("#microsoft.graph.chatMessage")}
		em.channels = append(em.channels, ch)
		if len(em.users) == 0 {
			continue
		}
		t := anchor.AddDate(0, -10, 0) // some messages fall outside the 8-month window
		for j := 0; j < em.cfg.ChatMessagesPerChat; j++ {
			t = t.Add(time.Duration(1+r.IntN(24*10)) * time.Hour)
			em.addChannelMsg(ch, ver, pick(r, em.users), t, sentence(r, 4+r.IntN(20)))
		}
	}
}

func (em *Emulator) addChannelMsg(ch *channelState, ver uint64, from *userRec, t time.Time, text string) *entry {
	id := strconv.FormatInt(t.UnixMilli(), 10)
	for ch.col.entries[id] != nil {
		t = t.Add(time.Millisecond)
		id = strconv.FormatInt(t.UnixMilli(), 10)
	}
	m := &chatMsg{id: id, from: from, created: t, modified: t, content: "<p>" + text + "</p>", contentType: "html", importance: "normal"}
	o := em.chatMsgJSON(&chat{}, m, false)
	o.set("chatId", nil)
	o.set("subject", nilIfEmpty(pick(rand.New(rand.NewPCG(uint64(t.UnixNano()), 1)), []string{"", "", "Heads-up", "Release notes"})))
	o.set("webUrl", "https://teams.microsoft.com/l/message/"+url.PathEscape(ch.id)+"/"+id)
	o.set("channelIdentity", map[string]string{"teamId": em.teamID(), "channelId": ch.id})
	return ch.col.add(ver, &entry{key: id, id: id, obj: o, when: t, aux: m})
}

func (em *Emulator) mutateChannels(r *rand.Rand, ver uint64) string {
	if len(em.channels) == 0 || len(em.users) == 0 {
		return "no-op"
	}
	ch := pick(r, em.channels)
	now := em.now()
	live := ch.col.live()
	switch op := r.IntN(100); {
	case op < 60 || len(live) == 0:
		e := em.addChannelMsg(ch, ver, pick(r, em.users), now, sentence(r, 5+r.IntN(10)))
		return "channelMessage created " + e.id
	case op < 85:
		e := pick(r, live)
		e.obj.set("lastModifiedDateTime", ms(now))
		e.obj.set("lastEditedDateTime", ms(now))
		e.obj.set("etag", strconv.FormatInt(now.UnixMilli(), 10))
		e.obj.set("body", map[string]string{"contentType": "html", "content": "<p>" + sentence(r, 6) + " (edited)</p>"})
		ch.col.update(ver, e, "lastModifiedDateTime", "lastEditedDateTime", "etag", "body")
		return "channelMessage edited " + e.id
	default:
		// A deleted Teams message keeps its id and gains deletedDateTime.
		e := pick(r, live)
		e.obj.set("lastModifiedDateTime", ms(now))
		e.obj.set("deletedDateTime", ms(now))
		e.obj.set("body", map[string]string{"contentType": "html", "content": ""})
		ch.col.update(ver, e, "lastModifiedDateTime", "deletedDateTime", "body")
		return "channelMessage deleted " + e.id
	}
}

func (em *Emulator) channelMessagesTruth() []json.RawMessage {
	out := []json.RawMessage{}
	cut := em.now().AddDate(0, -8, 0)
	for _, ch := range em.channels {
		for _, e := range ch.col.live() {
			if e.when.After(cut) {
				b, _, _ := e.obj.encode(nil, nil)
				out = append(out, b)
			}
		}
	}
	return out
}

// channelMessagesDelta serves /teams/{id}/channels/{id}/messages/delta:
// top-level messages of the last 8 months, $top at most 50, $filter only
// lastModifiedDateTime gt, as Microsoft documents.
func (c *call) channelMessagesDelta() {
	em := c.em
	if !strings.EqualFold(c.args["t"], em.teamID()) {
		c.fail(http.StatusNotFound, "NotFound", "No team found with Group Id "+c.args["t"])
		return
	}
	var ch *channelState
	for _, x := range em.channels {
		if x.id == c.args["c"] {
			ch = x
		}
	}
	if ch == nil {
		c.fail(http.StatusNotFound, "NotFound", "Channel not found.")
		return
	}
	c.serveDelta(deltaSpec{
		key: "chm/" + ch.id, col: func() *collection { return ch.col },
		path: "/teams/" + em.teamID() + "/channels/" + url.PathEscape(ch.id) + "/messages/delta", context: c.context("Collection(chatMessage)"),
		defSize: 20, maxSize: 50,
		initial: func(c *call, q url.Values) (map[string]string, bool) {
			opts := map[string]string{}
			for k, vs := range q {
				v := vs[0]
				switch strings.ToLower(strings.TrimPrefix(k, "$")) {
				case "top":
					if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 50 {
						return refuse(c, "BadRequest", "Invalid page size specified: '"+v+"'. Must be between 1 and 50 inclusive.")
					}
					opts["$top"] = v
				case "filter":
					f := strings.Fields(v)
					if len(f) != 3 || !strings.EqualFold(f[0], "lastModifiedDateTime") || f[1] != "gt" {
						return refuse(c, "BadRequest", "Only lastModifiedDateTime gt is supported in $filter.")
					}
					if _, err := time.Parse(time.RFC3339Nano, f[2]); err != nil {
						return refuse(c, "BadRequest", "Invalid filter clause.")
					}
					opts["$filter"] = v
				case "expand":
					opts["$expand"] = v
				default:
					return refuse(c, "BadRequest", fmt.Sprintf("Query option '%s' is not supported.", k))
				}
			}
			opts["cut"] = em.now().AddDate(0, -8, 0).Format(time.RFC3339)
			return opts, true
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
				if since.IsZero() {
					return true
				}
				t, _ := time.Parse("2006-01-02T15:04:05.000Z", e.obj.str("lastModifiedDateTime"))
				return t.After(since)
			}
		},
	})
}
