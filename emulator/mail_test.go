package emulator

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// mailClient mirrors a mailbox the way a sync engine would: folders from
// mailFolders/delta, messages per folder from messages/delta.
type mailClient struct {
	b       *bundle
	token   string
	user    string
	hdr     []string
	partial bool
	folders map[string]map[string]json.RawMessage
	msgs    map[string]map[string]json.RawMessage // by id
	fLink   string
	mLinks  map[string]string
}

func newMailClient(b *bundle, token, user string, hdr ...string) *mailClient {
	return &mailClient{b: b, token: token, user: user, hdr: hdr, folders: map[string]map[string]json.RawMessage{},
		msgs: map[string]map[string]json.RawMessage{}, mLinks: map[string]string{}}
}

func merge(dst map[string]json.RawMessage, src map[string]json.RawMessage) map[string]json.RawMessage {
	if dst == nil {
		dst = map[string]json.RawMessage{}
	}
	maps.Copy(dst, src)
	return dst
}

func (m *mailClient) sync(t *testing.T) {
	t.Helper()
	start := m.fLink
	if start == "" {
		start = "/v1.0/users/" + m.user + "/mailFolders/delta"
	}
	m.fLink = m.b.syncRound(t, m.token, start, func(it map[string]json.RawMessage) {
		id := str(it, "id")
		if _, gone := it["@removed"]; gone {
			delete(m.folders, id)
			delete(m.mLinks, id)
			for mid, msg := range m.msgs {
				if str(msg, "parentFolderId") == id {
					delete(m.msgs, mid)
				}
			}
			return
		}
		m.folders[id] = merge(m.folders[id], it)
	}, m.hdr...)
	for _, fid := range slices.Sorted(maps.Keys(m.folders)) {
		start := m.mLinks[fid]
		if start == "" {
			start = "/v1.0/users/" + m.user + "/mailFolders/" + fid + "/messages/delta"
		}
		m.mLinks[fid] = m.b.syncRound(t, m.token, start, func(it map[string]json.RawMessage) {
			id := str(it, "id")
			if _, gone := it["@removed"]; gone {
				// A removal in this folder's feed only concerns this folder.
				if old, ok := m.msgs[id]; ok && str(old, "parentFolderId") == fid {
					delete(m.msgs, id)
				}
				return
			}
			if m.partial {
				m.msgs[id] = merge(m.msgs[id], it)
			} else {
				m.msgs[id] = it
			}
		}, m.hdr...)
	}
}

// equalTruth compares the client's state with Truth, property by property.
func equalTruth(t *testing.T, what string, got map[string]map[string]json.RawMessage, truth []json.RawMessage) {
	t.Helper()
	want := map[string]map[string]json.RawMessage{}
	for _, r := range truth {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(r, &m); err != nil {
			t.Fatal(err)
		}
		want[str(m, "id")] = m
	}
	if len(got) != len(want) {
		t.Errorf("%s: client has %d, truth has %d", what, len(got), len(want))
	}
	bad := 0
	for id, w := range want {
		g, ok := got[id]
		if !ok {
			bad++
			if bad < 5 {
				t.Errorf("%s: client lacks %s", what, id)
			}
			continue
		}
		for k, v := range w {
			if string(g[k]) != string(v) && bad < 5 {
				bad++
				t.Errorf("%s %s: property %s = %s, truth %s", what, id, k, g[k], v)
			}
		}
	}
}

// Delta rounds converge on the truth across creates, updates, moves,
// permanent deletes and folder deletes.
// https://learn.microsoft.com/en-us/graph/delta-query-messages
// https://learn.microsoft.com/en-us/graph/api/mailfolder-delta
func TestMailDeltaConvergesToTruth(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		partial bool
		hdr     []string
	}{
		{"default ids", false, nil},
		{"immutable ids", false, []string{"Prefer", `IdType="ImmutableId"`}},
		{"partial updates", true, []string{"Prefer", "odata.maxpagesize=7"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, Config{Seed: 42, Users: 2, MessagesPerUser: 120, PartialUpdates: tc.partial})
			tok := b.appToken(t)
			u := b.srv.Users()[1].ID
			c := newMailClient(b, tok, u, tc.hdr...)
			c.partial = tc.partial
			c.sync(t)
			imm := len(tc.hdr) > 0 && strings.Contains(tc.hdr[1], "Immutable")
			truth := func(res string) []json.RawMessage {
				out, err := b.srv.truth(u, res, imm)
				if err != nil {
					t.Fatal(err)
				}
				return out
			}
			equalTruth(t, "folders", c.folders, truth("mailFolders"))
			equalTruth(t, "messages", c.msgs, truth("messages"))
			kinds := map[string]int{}
			for round := 0; round < 4; round++ {
				for _, what := range b.srv.Mutate(60) {
					if f := strings.Fields(what); len(f) > 1 {
						kinds[f[0]+" "+f[1]]++
					}
				}
				c.sync(t)
				equalTruth(t, fmt.Sprint("folders after round ", round), c.folders, truth("mailFolders"))
				equalTruth(t, fmt.Sprint("messages after round ", round), c.msgs, truth("messages"))
			}
			for _, k := range []string{"message moved", "message updated", "message created", "message permanently"} {
				if kinds[k] == 0 {
					t.Errorf("mutations never did %q: %v", k, kinds)
				}
			}
		})
	}
}

// Moving a message changes its default id but not its immutable id.
// https://learn.microsoft.com/en-us/graph/outlook-immutable-id
func TestMessageMoveIDs(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 3, Users: 1, MessagesPerUser: 5})
	em := b.srv.Emulator
	u := em.users[0]
	em.mu.Lock()
	var m *message
	for _, k := range sortedKeys(u.mail.msgs) {
		m = u.mail.msgs[k]
		break
	}
	before := m.e.id
	em.moveMessage(u, em.nextVersion(), m, u.mail.folder("archive"))
	after := m.e.id
	em.mu.Unlock()
	if before == after {
		t.Errorf("default id did not change on move: %s", after)
	}
	if m.e.servedID(true) != m.imm {
		t.Errorf("immutable id changed on move")
	}
}

// Query options outside message-delta's documented support are refused.
// https://learn.microsoft.com/en-us/graph/api/message-delta
func TestMessagesDeltaQueryOptions(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 1, Users: 1, MessagesPerUser: 40})
	tok := b.appToken(t)
	u := b.srv.Users()[0].ID
	base := "/v1.0/users/" + u + "/mailFolders/inbox/messages/delta"
	for _, q := range []string{"$filter=subject eq 'x'", "$orderby=subject", "$search=foo", "changeType=moved", "$count=true"} {
		resp, body := b.get(t, tok, base+"?"+url.PathEscape(q))
		if resp.StatusCode != 400 {
			t.Errorf("%s: status %d, want 400", q, resp.StatusCode)
			continue
		}
		if code, _ := graphErr(t, body); code == "" {
			t.Errorf("%s: no error code", q)
		}
	}
	// $select keeps id; $top sets the page size; the token carries both.
	resp, body := b.get(t, tok, base+"?$select=subject&$top=3")
	if resp.StatusCode != 200 {
		t.Fatalf("select: %d %s", resp.StatusCode, body)
	}
	var p page
	_ = json.Unmarshal(body, &p)
	if len(p.Value) != 3 || p.NextLink == "" {
		t.Fatalf("want 3 items and a nextLink, got %d %q", len(p.Value), p.NextLink)
	}
	for _, it := range p.Value {
		if _, ok := it["id"]; !ok || it["subject"] == nil || it["body"] != nil {
			t.Errorf("select not applied: %v", slices.Collect(maps.Keys(it)))
		}
	}
	if strings.Contains(p.NextLink, "select") {
		t.Errorf("nextLink repeats the query: %s", p.NextLink)
	}
	resp, body = b.get(t, tok, p.NextLink)
	_ = json.Unmarshal(body, &p)
	if resp.StatusCode != 200 || len(p.Value) != 3 || p.Value[0]["body"] != nil {
		t.Errorf("nextLink lost the options: %d %d", resp.StatusCode, len(p.Value))
	}
	// Prefer odata.maxpagesize is echoed in Preference-Applied.
	resp, body = b.get(t, tok, base, "Prefer", "odata.maxpagesize=5")
	_ = json.Unmarshal(body, &p)
	if len(p.Value) != 5 || resp.Header.Get("Preference-Applied") != "odata.maxpagesize=5" {
		t.Errorf("maxpagesize: %d items, Preference-Applied %q", len(p.Value), resp.Header.Get("Preference-Applied"))
	}
	// The default page size is 10.
	_, body = b.get(t, tok, base)
	_ = json.Unmarshal(body, &p)
	if len(p.Value) != outlookDefaultPage {
		t.Errorf("default page size %d, want %d", len(p.Value), outlookDefaultPage)
	}
}

// Expired tokens get 410 SyncStateNotFound; tampered ones 400.
// https://learn.microsoft.com/en-us/graph/delta-query-overview#synchronization-reset
func TestMessagesDeltaTokenErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 1, Users: 1, MessagesPerUser: 30})
	tok := b.appToken(t)
	u := b.srv.Users()[0].ID
	link := b.syncRound(t, tok, "/v1.0/users/"+u+"/mailFolders/inbox/messages/delta", func(map[string]json.RawMessage) {})
	tampered := strings.Replace(link, "$deltatoken=", "$deltatoken=x", 1)
	resp, body := b.get(t, tok, tampered)
	if code, _ := graphErr(t, body); resp.StatusCode != 400 || code != "BadRequest" {
		t.Errorf("tampered token: %d %s", resp.StatusCode, body)
	}
	b.srv.ExpireDeltaTokens()
	resp, body = b.get(t, tok, link)
	if code, _ := graphErr(t, body); resp.StatusCode != 410 || code != "SyncStateNotFound" {
		t.Errorf("expired token: %d %s", resp.StatusCode, body)
	}
	// A token for one folder does not open another folder.
	other := strings.Replace(link, "/mailFolders/", "/mailFolders/sentitems/x/", 1)
	if resp, _ := b.get(t, tok, other); resp.StatusCode == 200 {
		t.Errorf("token accepted on another path")
	}
}

// changeType and $filter on receivedDateTime are taken from the initial
// request and carried by the tokens.
// https://learn.microsoft.com/en-us/graph/api/message-delta#query-parameters
func TestMessagesDeltaChangeTypeAndFilter(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 21, Users: 1, MessagesPerUser: 150})
	tok := b.appToken(t)
	u := b.srv.Users()[0].ID
	base := "/v1.0/users/" + u + "/mailFolders/inbox/messages/delta"
	cut := time.Now().UTC().AddDate(0, 0, -60).Format(time.RFC3339)
	n := 0
	b.syncRound(t, tok, base+"?$filter="+url.QueryEscape("receivedDateTime ge "+cut), func(it map[string]json.RawMessage) {
		n++
		if str(it, "receivedDateTime") < cut {
			t.Errorf("message received %s before the filter %s", str(it, "receivedDateTime"), cut)
		}
	})
	if n == 0 {
		t.Errorf("filter returned nothing")
	}
	var created, deleted, updated int
	cLink := b.syncRound(t, tok, base+"?changeType=created", func(map[string]json.RawMessage) { created++ })
	dLink := b.syncRound(t, tok, base+"?changeType=deleted", func(map[string]json.RawMessage) { deleted++ })
	uLink := b.syncRound(t, tok, base+"?changeType=updated", func(map[string]json.RawMessage) { updated++ })
	if created == 0 || deleted != 0 || updated != 0 {
		t.Errorf("initial rounds: created %d deleted %d updated %d", created, deleted, updated)
	}
	known := map[string]bool{}
	for _, r := range must(b.srv.Truth(u, "messages")) {
		var m map[string]json.RawMessage
		_ = json.Unmarshal(r, &m)
		known[str(m, "id")] = true
	}
	b.srv.Mutate(200)
	b.syncRound(t, tok, dLink, func(it map[string]json.RawMessage) {
		if _, ok := it["@removed"]; !ok {
			t.Errorf("changeType=deleted returned a live item")
		}
		deleted++
	})
	b.syncRound(t, tok, cLink, func(it map[string]json.RawMessage) {
		if _, ok := it["@removed"]; ok || known[str(it, "id")] {
			t.Errorf("changeType=created returned a removal or an old message")
		}
	})
	b.syncRound(t, tok, uLink, func(it map[string]json.RawMessage) {
		if _, ok := it["@removed"]; ok || !known[str(it, "id")] {
			t.Errorf("changeType=updated returned a removal or a new message")
		}
		updated++
	})
	if updated == 0 {
		t.Errorf("no updates after 200 mutations")
	}
	if deleted == 0 {
		t.Errorf("no deletions after 200 mutations")
	}
}
