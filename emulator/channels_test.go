package emulator

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// listAll follows nextLinks of a Graph list and returns every item.
func (b *bundle) listAll(t *testing.T, tok, link string, hdr ...string) []map[string]json.RawMessage {
	t.Helper()
	var out []map[string]json.RawMessage
	for i := 0; link != "" && i < 1000; i++ {
		resp, body := b.get(t, tok, link, hdr...)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", link, resp.StatusCode, body)
		}
		var p page
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatal(err)
		}
		out = append(out, p.Value...)
		link = p.NextLink
	}
	return out
}

func ids(items []map[string]json.RawMessage) []string {
	var out []string
	for _, it := range items {
		out = append(out, str(it, "id"))
	}
	slices.Sort(out)
	return out
}

// Teams and channels: joinedTeams lists a user's teams with id,
// displayName and description (api/user-list-joinedteams, delegated for the
// signed-in user only); a private channel is listed to its members and to
// applications (api/channel-list); a non-member's delegated token is
// refused. Everything agrees with the ground truth.
func TestTeamsAndChannels(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 41, Users: 4, MessagesPerUser: 2, ChatMessagesPerChat: 6})
	app := b.appToken(t)
	users := b.srv.Users()
	privateSeen := 0
	for _, u := range users {
		tok := b.userTokens(t, "Team.ReadBasic.All Channel.ReadBasic.All ChannelMessage.Read.All", u.UserPrincipalName)["access_token"].(string)
		truthTeams := truthByID(t, must(b.srv.Truth(u.ID, "teams")))
		joined := b.listAll(t, tok, "/v1.0/me/joinedTeams")
		if got, want := ids(joined), sortedKeys(truthTeams); !slices.Equal(got, want) {
			t.Fatalf("%s joinedTeams %v, truth %v", u.UserPrincipalName, got, want)
		}
		for _, tm := range joined {
			if len(tm) != 3 || str(tm, "displayName") != str(truthTeams[str(tm, "id")], "displayName") {
				t.Errorf("joinedTeams serves %v; the docs list id, displayName and description", tm)
			}
			resp, body := b.get(t, tok, "/v1.0/teams/"+str(tm, "id"))
			var full map[string]json.RawMessage
			_ = json.Unmarshal(body, &full)
			delete(full, "@odata.context")
			if resp.StatusCode != 200 || !equalJSON(full, truthTeams[str(tm, "id")]) {
				t.Errorf("GET team: %d %s", resp.StatusCode, body)
			}
		}
		truthChans := truthByID(t, must(b.srv.Truth(u.ID, "channels")))
		var seen []string
		for _, tm := range joined {
			for _, ch := range b.listAll(t, tok, "/v1.0/teams/"+str(tm, "id")+"/channels") {
				want := truthChans[str(ch, "id")]
				if want == nil || str(want, "@emulator.teamId") != str(tm, "id") {
					t.Errorf("%s sees channel %s not in its truth", u.UserPrincipalName, str(ch, "id"))
					continue
				}
				delete(want, "@emulator.teamId")
				if !equalJSON(ch, want) {
					t.Errorf("channel %s differs from the truth", str(ch, "id"))
				}
				if str(ch, "membershipType") == "private" {
					privateSeen++
				}
				seen = append(seen, str(ch, "id"))
			}
		}
		if len(seen) != len(truthChans) {
			t.Errorf("%s lists %d channels, truth %d", u.UserPrincipalName, len(seen), len(truthChans))
		}
		other := users[(slices.IndexFunc(users, func(x User) bool { return x.ID == u.ID })+1)%len(users)]
		if resp, _ := b.get(t, tok, "/v1.0/users/"+other.ID+"/joinedTeams"); resp.StatusCode != http.StatusForbidden {
			t.Errorf("delegated joinedTeams of another user: %d", resp.StatusCode)
		}
		if resp, body := b.get(t, app, "/v1.0/users/"+u.ID+"/joinedTeams"); resp.StatusCode != 200 || !strings.Contains(string(body), `"@odata.count":`+strconv.Itoa(len(truthTeams))) {
			t.Errorf("application joinedTeams: %d %s", resp.StatusCode, body)
		}
	}
	if privateSeen == 0 {
		t.Fatal("no user sees a private channel")
	}
	// Applications see every channel, private ones included; a user
	// outside a team is refused.
	b.srv.mu.RLock()
	var outsider *userRec
	var tm *team
	for _, x := range b.srv.teams[1:] {
		for _, u := range b.srv.users {
			if !slices.Contains(x.members, u) {
				outsider, tm = u, x
			}
		}
	}
	nChannels := len(tm.channels)
	b.srv.mu.RUnlock()
	if got := b.listAll(t, app, "/v1.0/teams/"+tm.id+"/channels"); len(got) != nChannels {
		t.Errorf("application lists %d of %d channels", len(got), nChannels)
	}
	tok := b.userTokens(t, "Team.ReadBasic.All Channel.ReadBasic.All", outsider.upn)["access_token"].(string)
	if resp, body := b.get(t, tok, "/v1.0/teams/"+tm.id+"/channels"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("non-member lists channels: %d %s", resp.StatusCode, body)
	}
}

func equalJSON(a, b map[string]json.RawMessage) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if string(b[k]) != string(v) {
			return false
		}
	}
	return true
}

// Channel messages with replies: the list serves top-level messages newest
// first with $expand=replies (replies@odata.count, replies newest first),
// the replies list pages at most 50, and channel messages delta with
// $expand=replies converges on the truth as replies are posted, edited and
// deleted: a reply's change reports its chain again.
// https://learn.microsoft.com/graph/api/channel-list-messages
// https://learn.microsoft.com/graph/api/chatmessage-list-replies
// https://learn.microsoft.com/graph/api/chatmessage-delta
func TestChannelMessagesAndReplies(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 42, Users: 3, MessagesPerUser: 2, ChatMessagesPerChat: 40})
	app := b.appToken(t)
	u := b.srv.Users()[0]
	b.srv.mu.RLock()
	ch := b.srv.teams[0].channels[0]
	teamID, chID := ch.team.id, ch.id
	b.srv.mu.RUnlock()
	base := "/v1.0/teams/" + teamID + "/channels/" + url.PathEscape(chID) + "/messages"
	if resp, _ := b.get(t, app, base+"?$top=51"); resp.StatusCode != 400 {
		t.Errorf("$top=51: %d", resp.StatusCode)
	}
	if resp, _ := b.get(t, app, base+"?$expand=hostedContents"); resp.StatusCode != 400 {
		t.Errorf("$expand of something else than replies: %d", resp.StatusCode)
	}
	posts := b.listAll(t, app, base+"?$top=7&$expand=replies")
	var last time.Time
	withReplies := 0
	for i, p := range posts {
		created, _ := time.Parse(time.RFC3339, str(p, "createdDateTime"))
		if i > 0 && created.After(last) {
			t.Fatalf("messages not newest first at %d", i)
		}
		last = created
		var replies []map[string]json.RawMessage
		_ = json.Unmarshal(p["replies"], &replies)
		if string(p["replies@odata.count"]) != strconv.Itoa(len(replies)) {
			t.Errorf("replies@odata.count %s for %d replies", p["replies@odata.count"], len(replies))
		}
		if len(replies) > 0 {
			withReplies++
			listed := b.listAll(t, app, base+"/"+str(p, "id")+"/replies?$top=2")
			if !slices.Equal(ids(listed), ids(replies)) {
				t.Errorf("replies of %s: list %v, expand %v", str(p, "id"), ids(listed), ids(replies))
			}
			if str(listed[0], "replyToId") != str(p, "id") {
				t.Errorf("reply %s has replyToId %s", str(listed[0], "id"), str(listed[0], "replyToId"))
			}
			resp, body := b.get(t, app, base+"/"+str(p, "id")+"/replies/"+str(listed[0], "id"))
			if resp.StatusCode != 200 || !strings.Contains(string(body), `"id":"`+str(listed[0], "id")+`"`) {
				t.Errorf("get reply: %d %s", resp.StatusCode, body)
			}
		}
	}
	if withReplies == 0 {
		t.Fatal("no message has replies")
	}

	// Delta with $expand=replies, applied as a client would, equals the
	// truth of this channel after each batch of mutations.
	state := map[string]map[string]json.RawMessage{}
	link := base + "/delta?$expand=replies&$top=20"
	kinds := map[string]int{}
	missing := func() bool {
		return kinds["channelReply created"] == 0 || kinds["channelReply edited"] == 0 || kinds["channelReply deleted"] == 0
	}
	for round := 0; round < 4 || (round < 15 && missing()); round++ {
		link = b.syncRound(t, app, link, func(it map[string]json.RawMessage) {
			state[str(it, "id")] = it
			var replies []map[string]json.RawMessage
			_ = json.Unmarshal(it["replies"], &replies)
			delete(it, "replies")
			delete(it, "replies@odata.count")
			for _, r := range replies {
				state[str(r, "id")] = r
			}
		})
		want := map[string]map[string]json.RawMessage{}
		for _, raw := range must(b.srv.Truth(u.ID, "channelMessages")) {
			var m map[string]json.RawMessage
			_ = json.Unmarshal(raw, &m)
			var ci struct{ ChannelID string }
			_ = json.Unmarshal(m["channelIdentity"], &ci)
			if ci.ChannelID == chID {
				want[str(m, "id")] = m
			}
		}
		if len(state) != len(want) {
			t.Errorf("round %d: client has %d messages and replies, truth %d", round, len(state), len(want))
		}
		for id, w := range want {
			if !equalJSON(state[id], w) {
				t.Errorf("round %d: %s differs: %s", round, id, state[id]["body"])
			}
		}
		for _, m := range b.srv.Mutate(200) {
			if f := strings.Fields(m); len(f) == 3 && strings.HasPrefix(f[2], chID+"/") {
				kinds[f[0]+" "+f[1]]++
			}
		}
	}
	for _, k := range []string{"channelReply created", "channelReply edited", "channelReply deleted"} {
		if kinds[k] == 0 {
			t.Errorf("mutations never did %q in the channel: %v", k, kinds)
		}
	}
}

// A new reply makes $filter=lastModifiedDateTime gt T return its chain
// ("reply chain ... created or changed after the specified date time",
// chatmessage-delta), though the post itself is older than T.
func TestChannelDeltaFilterSelectsChains(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 43, Users: 2, MessagesPerUser: 1, ChatMessagesPerChat: 20})
	app := b.appToken(t)
	b.srv.mu.Lock()
	em := b.srv.Emulator
	ch := em.teams[0].channels[1]
	parent := ch.col.live()[len(ch.col.live())-1]
	since := em.now().Add(-time.Minute)
	em.addReply(ch, parent, em.nextVersion(), em.users[0], em.now(), "late reply")
	teamID, chID, pid := ch.team.id, ch.id, parent.id
	b.srv.mu.Unlock()
	items := map[string]bool{}
	b.syncRound(t, app, "/v1.0/teams/"+teamID+"/channels/"+url.PathEscape(chID)+"/messages/delta?$filter="+
		url.QueryEscape("lastModifiedDateTime gt "+since.UTC().Format(time.RFC3339)), func(it map[string]json.RawMessage) {
		items[str(it, "id")] = true
	})
	if !items[pid] || len(items) != 1 {
		t.Errorf("filtered delta returned %v; want only the chain %s", items, pid)
	}
}

// Listing and getting channel messages, replies and chat messages with
// application permissions are protected APIs: an app without that access
// is refused (learn.microsoft.com/graph/teams-protected-apis); delta and
// delegated access are not affected.
func TestTeamsProtectedAPIs(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 44, Users: 2, MessagesPerUser: 1, ChatMessagesPerChat: 5,
		Apps: []App{{ClientID: defaultClientID, Secret: defaultSecret, RedirectURIs: []string{defaultRedirect}, NoProtectedAPIs: true}}})
	app := b.appToken(t)
	b.srv.mu.RLock()
	ch := b.srv.teams[0].channels[0]
	post := ch.col.live()[0].id
	base := "/v1.0/teams/" + ch.team.id + "/channels/" + url.PathEscape(ch.id) + "/messages"
	var chatID string
	for id := range b.srv.chats {
		chatID = id
	}
	b.srv.mu.RUnlock()
	for _, p := range []string{base, base + "/" + post, base + "/" + post + "/replies", "/v1.0/chats/" + url.PathEscape(chatID) + "/messages"} {
		resp, body := b.get(t, app, p)
		if _, msg := graphErr(t, body); resp.StatusCode != 403 || !strings.Contains(msg, "Protected API") {
			t.Errorf("%s: %d %s", p, resp.StatusCode, body)
		}
	}
	if resp, body := b.get(t, app, base+"/delta"); resp.StatusCode != 200 {
		t.Errorf("delta: %d %s", resp.StatusCode, body)
	}
	tok := b.userTokens(t, "ChannelMessage.Read.All", "")["access_token"].(string)
	if resp, body := b.get(t, tok, base); resp.StatusCode != 200 {
		t.Errorf("delegated list: %d %s", resp.StatusCode, body)
	}
}
