package emulator

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

func truthByID(t *testing.T, raws []json.RawMessage) map[string]map[string]json.RawMessage {
	t.Helper()
	out := map[string]map[string]json.RawMessage{}
	for _, r := range raws {
		m := decodeObj(t, r)
		out[str(m, "id")] = m
	}
	return out
}

// calendarView delta converges on the events in the window; changes
// outside the window arrive as @removed; $select is refused.
// https://learn.microsoft.com/en-us/graph/api/event-delta
// https://learn.microsoft.com/en-us/graph/delta-query-events
func TestCalendarViewDelta(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 11, Users: 2, MessagesPerUser: 5, EventsPerUser: 60})
	tok := b.appToken(t)
	u := b.srv.Users()[0]
	ws := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -60)
	we := ws.AddDate(0, 0, 120)
	base := "/v1.0/users/" + u.ID + "/calendarView/delta"
	for _, q := range []string{"", "?startDateTime=" + ws.Format(time.RFC3339), "?startdatetime=x&enddatetime=y"} {
		if resp, body := b.get(t, tok, base+q); resp.StatusCode != 400 {
			t.Errorf("%q: %d %s", q, resp.StatusCode, body)
		}
	}
	window := "?startdatetime=" + ws.Format(time.RFC3339) + "&enddatetime=" + we.Format(time.RFC3339)
	if resp, _ := b.get(t, tok, base+window+"&$select=subject"); resp.StatusCode != 400 {
		t.Errorf("$select accepted: %d", resp.StatusCode)
	}
	state := map[string]map[string]json.RawMessage{}
	kinds := map[string]bool{}
	apply := func(it map[string]json.RawMessage) {
		if _, gone := it["@removed"]; gone {
			delete(state, str(it, "id"))
			return
		}
		kinds[str(it, "type")] = true
		state[str(it, "id")] = it
	}
	link := b.syncRound(t, tok, base+window, apply)
	check := func(when string) {
		t.Helper()
		in := b.srv.eventsInWindow(b.srv.users[0], ws, we)
		all := truthByID(t, must(b.srv.Truth(u.ID, "events")))
		if len(state) != len(in) {
			t.Errorf("%s: client has %d events, %d in window", when, len(state), len(in))
		}
		for id := range in {
			if got, ok := state[id]; !ok {
				t.Errorf("%s: missing %s", when, id)
			} else if !maps.EqualFunc(got, all[id], func(a, b json.RawMessage) bool { return string(a) == string(b) }) {
				t.Errorf("%s: %s differs from truth", when, id)
			}
		}
	}
	check("initial")
	for _, k := range []string{"singleInstance", "seriesMaster", "occurrence", "exception"} {
		if !kinds[k] {
			t.Errorf("no %s in the initial round", k)
		}
	}
	for i := 0; i < 4; i++ {
		b.srv.Mutate(80)
		link = b.syncRound(t, tok, link, apply)
		check("after mutations")
	}
	// Prefer: outlook.timezone converts start/end.
	resp, body := b.get(t, tok, base+window, "Prefer", `outlook.timezone="Pacific Standard Time"`)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"timeZone":"Pacific Standard Time"`) {
		t.Errorf("outlook.timezone not applied: %d", resp.StatusCode)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// OneDrive delta: function-style links, the deleted facet, token=latest,
// 410 with Location on an expired token, folder moves without re-reporting
// children.
// https://learn.microsoft.com/en-us/graph/api/driveitem-delta
func TestDriveDelta(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 12, Users: 2, MessagesPerUser: 5, DriveItemsPerUser: 80})
	tok := b.appToken(t)
	u := b.srv.Users()[1]
	resp, body := b.get(t, tok, "/v1.0/users/"+u.ID+"/drive")
	var drive struct{ ID string }
	_ = json.Unmarshal(body, &drive)
	if resp.StatusCode != 200 || !strings.HasPrefix(drive.ID, "b!") {
		t.Fatalf("drive: %d %s", resp.StatusCode, body)
	}
	state := map[string]map[string]json.RawMessage{}
	sawDeleted := false
	apply := func(it map[string]json.RawMessage) {
		if _, gone := it["deleted"]; gone {
			if _, ok := it["@removed"]; ok {
				t.Errorf("drive item uses @removed")
			}
			sawDeleted = true
			delete(state, str(it, "id"))
			return
		}
		if strings.Contains(string(it["parentReference"]), `"path"`) {
			t.Errorf("parentReference.path returned in delta")
		}
		state[str(it, "id")] = it
	}
	resp, body = b.get(t, tok, "/v1.0/drives/"+drive.ID+"/root/delta?$top=7")
	var p page
	_ = json.Unmarshal(body, &p)
	if resp.StatusCode != 200 || !strings.Contains(p.NextLink, "/root/delta(token='") || len(p.Value) != 7 {
		t.Fatalf("first page: %d %q %d", resp.StatusCode, p.NextLink, len(p.Value))
	}
	link := b.syncRound(t, tok, "/v1.0/users/"+u.ID+"/drive/root/delta", apply)
	roots := 0
	for _, it := range state {
		if _, ok := it["root"]; ok {
			roots++
		}
	}
	if roots != 1 {
		t.Errorf("root included %d times", roots)
	}
	equalTruth(t, "driveItems", state, must(b.srv.Truth(u.ID, "driveItems")))
	for i := 0; i < 4; i++ {
		b.srv.Mutate(80)
		link = b.syncRound(t, tok, link, apply)
		equalTruth(t, "driveItems after mutations", state, must(b.srv.Truth(u.ID, "driveItems")))
	}
	if !sawDeleted {
		t.Errorf("no deletion seen")
	}
	// Moving a folder reports the folder (and the parents), not its children.
	em := b.srv.Emulator
	em.mu.Lock()
	du := em.users[1]
	var folder, dst *entry
	for _, e := range du.drive.live() {
		st := e.aux.(*driveState)
		if st.folder && st.parent != nil && st.children > 0 && folder == nil {
			folder = e
		}
	}
	for _, e := range du.drive.live() {
		if e.aux.(*driveState).folder && e != folder && !isDriveAncestor(folder, e) && e != folder.aux.(*driveState).parent {
			dst = e
		}
	}
	ver := em.nextVersion()
	old := folder.aux.(*driveState).parent
	folder.aux.(*driveState).parent = dst
	folder.obj.set("parentReference", map[string]string{"driveType": "business", "driveId": du.driveID, "id": dst.id})
	du.drive.update(ver, folder, "parentReference")
	em.driveChildChanged(du.od, ver, old, -1)
	em.driveChildChanged(du.od, ver, dst, 1)
	em.mu.Unlock()
	var ids []string
	link = b.syncRound(t, tok, link, func(it map[string]json.RawMessage) { ids = append(ids, str(it, "id")) })
	slices.Sort(ids)
	want := []string{folder.id, old.id, dst.id}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Errorf("after a folder move the round had %v, want %v", ids, want)
	}
	// token=latest: no items, a deltaLink.
	_, body = b.get(t, tok, "/v1.0/drives/"+drive.ID+"/root/delta?token=latest")
	_ = json.Unmarshal(body, &p)
	if len(p.Value) != 0 || p.DeltaLink == "" {
		t.Errorf("token=latest: %s", body)
	}
	// Expired: 410 resyncRequired with a Location that starts over.
	b.srv.ExpireDeltaTokens()
	resp, body = b.get(t, tok, link)
	if code, _ := graphErr(t, body); resp.StatusCode != 410 || code != "resyncRequired" || !strings.HasSuffix(resp.Header.Get("Location"), "/root/delta") {
		t.Errorf("expired: %d %s %q", resp.StatusCode, body, resp.Header.Get("Location"))
	}
	if resp, _ := b.get(t, tok, resp.Header.Get("Location")); resp.StatusCode != 200 {
		t.Errorf("Location does not start over: %d", resp.StatusCode)
	}
}

// Chats: $top at most 50, $expand=members, message order and filters as
// documented; deleted messages keep their id.
// https://learn.microsoft.com/en-us/graph/api/chat-list
// https://learn.microsoft.com/en-us/graph/api/chat-list-messages
func TestChats(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 13, Users: 3, MessagesPerUser: 5, ChatsPerUser: 3, ChatMessagesPerChat: 70})
	user := b.srv.Users()[0]
	tokens := b.userTokens(t, "Chat.Read User.Read", user.UserPrincipalName)
	tok := tokens["access_token"].(string)
	if resp, _ := b.get(t, tok, "/v1.0/me/chats?$top=51"); resp.StatusCode != 400 {
		t.Errorf("$top=51 accepted: %d", resp.StatusCode)
	}
	resp, body := b.get(t, tok, "/v1.0/me/chats?$expand=members")
	var chats struct {
		Count int `json:"@odata.count"`
		Value []struct {
			ID, ChatType, LastUpdatedDateTime string
			Members                           []map[string]any
		}
	}
	_ = json.Unmarshal(body, &chats)
	if resp.StatusCode != 200 || len(chats.Value) == 0 || chats.Count != len(chats.Value) || len(chats.Value[0].Members) < 2 {
		t.Fatalf("chats: %d %s", resp.StatusCode, body)
	}
	chatID := chats.Value[0].ID
	for i := 0; i < 30; i++ {
		b.srv.Mutate(10)
	}
	var got []map[string]json.RawMessage
	link := "/v1.0/chats/" + url.PathEscape(chatID) + "/messages?$top=50"
	for link != "" {
		resp, body := b.get(t, tok, link)
		var p page
		if err := json.Unmarshal(body, &p); err != nil || resp.StatusCode != 200 {
			t.Fatalf("messages: %d %s", resp.StatusCode, body)
		}
		if len(p.Value) > 50 {
			t.Errorf("page of %d", len(p.Value))
		}
		got = append(got, p.Value...)
		link = p.NextLink
	}
	var truth []map[string]json.RawMessage
	for _, r := range must(b.srv.Truth(user.ID, "chatMessages")) {
		var m map[string]json.RawMessage
		_ = json.Unmarshal(r, &m)
		if str(m, "chatId") == chatID {
			truth = append(truth, m)
		}
	}
	if len(got) != len(truth) {
		t.Fatalf("listed %d messages, truth %d", len(got), len(truth))
	}
	for i := 1; i < len(got); i++ {
		if str(got[i-1], "lastModifiedDateTime") < str(got[i], "lastModifiedDateTime") {
			t.Errorf("not ordered by lastModifiedDateTime desc at %d", i)
		}
	}
	if _, err := time.Parse(time.RFC3339, str(got[0], "createdDateTime")); err != nil {
		t.Errorf("createdDateTime: %v", err)
	}
	// The filter applies only with the matching $orderby.
	mid := str(got[len(got)/2], "lastModifiedDateTime")
	_, body = b.get(t, tok, "/v1.0/chats/"+url.PathEscape(chatID)+"/messages?$top=50&$orderby=lastModifiedDateTime+desc&$filter="+url.QueryEscape("lastModifiedDateTime gt "+mid))
	var p page
	_ = json.Unmarshal(body, &p)
	if len(p.Value) == 0 || len(p.Value) >= len(got) {
		t.Errorf("filter with its $orderby: %d of %d messages", len(p.Value), len(got))
	}
	for _, m := range p.Value {
		if str(m, "lastModifiedDateTime") <= mid {
			t.Errorf("filter not applied")
			break
		}
	}
	// Without $orderby the filter is ignored too, even on the default order.
	_, body = b.get(t, tok, "/v1.0/chats/"+url.PathEscape(chatID)+"/messages?$top=50&$filter="+url.QueryEscape("lastModifiedDateTime gt "+mid))
	p = page{}
	_ = json.Unmarshal(body, &p)
	if len(p.Value) != min(50, len(got)) {
		t.Errorf("filter without $orderby was not ignored: %d of %d messages", len(p.Value), len(got))
	}
	_, body = b.get(t, tok, "/v1.0/chats/"+url.PathEscape(chatID)+"/messages?$top=5&$orderby=createdDateTime+desc&$filter="+url.QueryEscape("lastModifiedDateTime gt "+mid))
	_ = json.Unmarshal(body, &p)
	if len(p.Value) != 5 {
		t.Errorf("filter on another property was not ignored: %d", len(p.Value))
	}
	if resp, _ := b.get(t, tok, "/v1.0/chats/"+url.PathEscape(chatID)+"/messages?$orderby=lastModifiedDateTime+asc"); resp.StatusCode != 400 {
		t.Errorf("ascending order accepted")
	}
	// A user outside the chat gets Teams' Forbidden.
	other := b.userTokens(t, "User.Read", b.srv.Users()[2].UserPrincipalName)["access_token"].(string)
	resp, body = b.get(t, other, "/v1.0/me/chats")
	if code, _ := graphErr(t, body); resp.StatusCode != 403 || code != "Forbidden" {
		t.Errorf("missing Chat.Read: %d %s", resp.StatusCode, body)
	}
}

// People: relevance order, $top and $skip, no delta.
// https://learn.microsoft.com/en-us/graph/api/user-list-people
func TestPeople(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 14, Users: 3, MessagesPerUser: 5, PeoplePerUser: 25})
	tok := b.appToken(t)
	u := b.srv.Users()[0]
	truth := must(b.srv.Truth(u.ID, "people"))
	var all []string
	for skip := 0; skip < 30; skip += 10 {
		_, body := b.get(t, tok, "/v1.0/users/"+u.ID+"/people?$top=10&$skip="+itoa(skip))
		var p page
		_ = json.Unmarshal(body, &p)
		for _, it := range p.Value {
			all = append(all, str(it, "id"))
		}
	}
	var want []string
	for _, r := range truth {
		var m map[string]json.RawMessage
		_ = json.Unmarshal(r, &m)
		want = append(want, str(m, "id"))
	}
	if !slices.Equal(all, want) {
		t.Errorf("people order %v, truth %v", all, want)
	}
	if resp, _ := b.get(t, tok, "/v1.0/users/"+u.ID+"/people/delta"); resp.StatusCode == 200 {
		t.Errorf("people delta served")
	}
}

// itoa formats two digits, so that batch ids and offsets read alike.
func itoa(i int) string { return string(rune('0'+i/10)) + string(rune('0'+i%10)) }

// Contacts: folders and per-folder contacts converge; the default folder is
// addressed by its well-known name.
// https://learn.microsoft.com/en-us/graph/api/contact-delta
func TestContactsDelta(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 15, Users: 2, MessagesPerUser: 5, ContactsPerUser: 40})
	tok := b.appToken(t)
	u := b.srv.Users()[0]
	folders := map[string]map[string]json.RawMessage{}
	contacts := map[string]map[string]json.RawMessage{}
	fLink := "/v1.0/users/" + u.ID + "/contactFolders/delta"
	links := map[string]string{"contacts": "/v1.0/users/" + u.ID + "/contactFolders/contacts/contacts/delta"}
	apply := func(it map[string]json.RawMessage) {
		if _, gone := it["@removed"]; gone {
			delete(contacts, str(it, "id"))
			return
		}
		contacts[str(it, "id")] = it
	}
	for round := 0; round < 4; round++ {
		fLink = b.syncRound(t, tok, fLink, func(it map[string]json.RawMessage) { folders[str(it, "id")] = it })
		for id := range folders {
			if links[id] == "" {
				links[id] = "/v1.0/users/" + u.ID + "/contactFolders/" + id + "/contacts/delta"
			}
		}
		for _, k := range slices.Sorted(maps.Keys(links)) {
			links[k] = b.syncRound(t, tok, links[k], apply)
		}
		equalTruth(t, "contactFolders", folders, must(b.srv.Truth(u.ID, "contactFolders")))
		equalTruth(t, "contacts", contacts, must(b.srv.Truth(u.ID, "contacts")))
		b.srv.Mutate(100)
	}
}

// $batch: at most 20 requests, unique ids, dependsOn with 424, gzip bodies,
// per-request throttling with its own Retry-After.
// https://learn.microsoft.com/en-us/graph/json-batching
func TestBatch(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 16, Users: 1, MessagesPerUser: 5,
		Throttle: Throttle{Outlook: OutlookLimits{Requests: 3, Window: time.Minute}}})
	tok := b.appToken(t)
	u := b.srv.Users()[0]
	post := func(payload any, gz bool) (int, []byte) {
		raw, _ := json.Marshal(payload)
		var buf bytes.Buffer
		if gz {
			zw := gzip.NewWriter(&buf)
			_, _ = zw.Write(raw)
			_ = zw.Close()
		} else {
			buf.Write(raw)
		}
		req, _ := http.NewRequestWithContext(ctxT(t), http.MethodPost, b.srv.URL()+"/v1.0/$batch", &buf)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		if gz {
			req.Header.Set("Content-Encoding", "gzip")
		}
		resp, err := b.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, body
	}
	reqs := func(n int) []map[string]any {
		var out []map[string]any
		for i := 0; i < n; i++ {
			out = append(out, map[string]any{"id": itoa(i + 1), "method": "GET", "url": "/users/" + u.ID + "/mailFolders/delta"})
		}
		return out
	}
	if st, _ := post(map[string]any{"requests": reqs(21)}, false); st != 400 {
		t.Errorf("21 requests: %d", st)
	}
	dup := reqs(2)
	dup[1]["id"] = dup[0]["id"]
	if st, _ := post(map[string]any{"requests": dup}, false); st != 400 {
		t.Errorf("duplicate ids: %d", st)
	}
	rs := reqs(6)
	rs[4]["url"] = "/users/nobody/mailFolders/delta"
	rs[5]["dependsOn"] = []string{rs[4]["id"].(string)}
	st, body := post(map[string]any{"requests": rs}, true)
	if st != 200 {
		t.Fatalf("batch: %d %s", st, body)
	}
	var out struct {
		Responses []batchResponse `json:"responses"`
	}
	_ = json.Unmarshal(body, &out)
	byID := map[string]batchResponse{}
	for _, r := range out.Responses {
		byID[r.ID] = r
	}
	if len(byID) != 6 || byID["05"].Status != 404 || byID["06"].Status != 424 {
		t.Errorf("statuses: %+v", out.Responses)
	}
	ok, throttled := 0, 0
	for _, id := range []string{"01", "02", "03", "04"} {
		switch r := byID[id]; r.Status {
		case 200:
			ok++
		case 429:
			throttled++
			if r.Headers["Retry-After"] == "" {
				t.Errorf("throttled sub-response without Retry-After: %v", r.Headers)
			}
		}
	}
	if ok != 3 || throttled != 1 {
		t.Errorf("ok %d throttled %d, want 3 and 1", ok, throttled)
	}
}

// Channel messages delta: top-level messages of the last 8 months, $top at
// most 50, $filter only lastModifiedDateTime gt; converges on the truth.
// https://learn.microsoft.com/en-us/graph/api/chatmessage-delta
func TestChannelMessagesDelta(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 22, Users: 2, MessagesPerUser: 1, ChatMessagesPerChat: 60})
	tok := b.appToken(t)
	u := b.srv.Users()[0].ID
	resp, body := b.get(t, tok, "/v1.0/users/"+u+"/joinedTeams")
	var teams page
	_ = json.Unmarshal(body, &teams)
	if resp.StatusCode != 200 || len(teams.Value) == 0 || str(teams.Value[0], "displayName") != "Contoso Everyone" {
		t.Fatalf("joinedTeams: %d %s", resp.StatusCode, body)
	}
	team := str(teams.Value[0], "id")
	_, body = b.get(t, tok, "/v1.0/teams/"+team+"/channels")
	var chans page
	_ = json.Unmarshal(body, &chans)
	if len(chans.Value) != 2 {
		t.Fatalf("channels: %s", body)
	}
	base := func(ch string) string {
		return "/v1.0/teams/" + team + "/channels/" + url.PathEscape(ch) + "/messages/delta"
	}
	if resp, _ := b.get(t, tok, base(str(chans.Value[0], "id"))+"?$top=51"); resp.StatusCode != 400 {
		t.Errorf("$top=51 accepted: %d", resp.StatusCode)
	}
	if resp, _ := b.get(t, tok, base(str(chans.Value[0], "id"))+"?$filter="+url.QueryEscape("lastModifiedDateTime lt 2020-01-01T00:00:00Z")); resp.StatusCode != 400 {
		t.Errorf("lt filter accepted: %d", resp.StatusCode)
	}
	// Message ids are creation times in milliseconds, unique within a channel
	// only, so each channel is compared with its own part of the truth.
	state := map[string]map[string]map[string]json.RawMessage{}
	links := map[string]string{}
	for _, ch := range chans.Value {
		links[str(ch, "id")] = base(str(ch, "id")) + "?$top=7"
		state[str(ch, "id")] = map[string]map[string]json.RawMessage{}
	}
	for round := 0; round < 3; round++ {
		for id, l := range links {
			links[id] = b.syncRound(t, tok, l, func(it map[string]json.RawMessage) { state[id][str(it, "id")] = it })
		}
		// The truth holds replies (delta serves top-level messages only)
		// and the other teams' channels.
		truth := map[string][]json.RawMessage{}
		for _, r := range must(b.srv.Truth(u, "channelMessages")) {
			var m struct {
				ReplyToID       *string
				ChannelIdentity struct{ ChannelID string }
			}
			if err := json.Unmarshal(r, &m); err != nil {
				t.Fatal(err)
			}
			if _, listed := links[m.ChannelIdentity.ChannelID]; listed && m.ReplyToID == nil {
				truth[m.ChannelIdentity.ChannelID] = append(truth[m.ChannelIdentity.ChannelID], r)
			}
		}
		for id := range links {
			equalTruth(t, "channelMessages of "+id, state[id], truth[id])
		}
		b.srv.Mutate(150)
	}
}
