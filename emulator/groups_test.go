package emulator

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// groupClient mirrors groups and their members from groups/delta, merging
// a group's repeated appearances as delta-query-groups advises.
type groupClient struct {
	groups  map[string]map[string]json.RawMessage
	members map[string]map[string]bool
	seen    map[string]int // appearances in the last round
	removed map[string]string
}

func newGroupClient() *groupClient {
	return &groupClient{groups: map[string]map[string]json.RawMessage{}, members: map[string]map[string]bool{}, removed: map[string]string{}}
}

func (gc *groupClient) apply(it map[string]json.RawMessage) {
	id := str(it, "id")
	gc.seen[id]++
	if _, gone := it["@removed"]; gone {
		var r struct{ Reason string }
		_ = json.Unmarshal(it["@removed"], &r)
		gc.removed[id] = r.Reason
		delete(gc.groups, id)
		delete(gc.members, id)
		return
	}
	var ms []struct {
		ID      string          `json:"id"`
		Type    string          `json:"@odata.type"`
		Removed json.RawMessage `json:"@removed"`
	}
	_ = json.Unmarshal(it["members@delta"], &ms)
	if gc.members[id] == nil {
		gc.members[id] = map[string]bool{}
	}
	for _, m := range ms {
		if m.Removed != nil {
			delete(gc.members[id], m.ID)
		} else {
			gc.members[id][m.ID] = true
		}
	}
	delete(it, "members@delta")
	gc.groups[id] = it
}

func (gc *groupClient) check(t *testing.T, when string, truth []json.RawMessage, props ...string) {
	t.Helper()
	if len(gc.groups) != len(truth) {
		t.Errorf("%s: client has %d groups, truth %d", when, len(gc.groups), len(truth))
	}
	for _, raw := range truth {
		var want map[string]json.RawMessage
		_ = json.Unmarshal(raw, &want)
		id := str(want, "id")
		got := gc.groups[id]
		for _, p := range props {
			if string(got[p]) != string(want[p]) {
				t.Errorf("%s: group %s %s %s, truth %s", when, id, p, got[p], want[p])
			}
		}
		var ids []string
		_ = json.Unmarshal(want["@emulator.members"], &ids)
		have := sortedKeys(gc.members[id])
		if !slices.Equal(have, ids) {
			t.Errorf("%s: group %s members %v, truth %v", when, id, have, ids)
		}
	}
}

// groups/delta with members: members@delta lists the members in the
// initial round (a group of more members than fit appears several times,
// each with part of them) and the additions and removals later; deleted
// groups come @removed, a Microsoft 365 group with reason "changed"
// (restorable), a security group "deleted". $top is refused,
// $deltaToken=latest starts from now, $select without members leaves
// membership out.
// https://learn.microsoft.com/graph/api/group-delta
// https://learn.microsoft.com/graph/delta-query-groups
func TestGroupsDelta(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 61, Users: 45, MessagesPerUser: 1, EventsPerUser: 1, DriveItemsPerUser: 1, ChatsPerUser: 1,
		ChatMessagesPerChat: 2, PeoplePerUser: 1, ContactsPerUser: 1, DriveItemsPerLibrary: 1})
	tok := b.appToken(t)
	users := b.srv.Users()
	truth := func() []json.RawMessage { return must(b.srv.Truth(users[0].ID, "groups")) }
	if resp, _ := b.get(t, tok, "/v1.0/groups/delta?$top=5"); resp.StatusCode != 400 {
		t.Errorf("$top: %d", resp.StatusCode)
	}
	gc := newGroupClient()
	gc.seen = map[string]int{}
	link := b.syncRound(t, tok, "/v1.0/groups/delta?$select=displayName,description,members", gc.apply)
	gc.check(t, "initial", truth(), "displayName", "description")
	everyone := b.srv.teamID()
	if gc.seen[everyone] != 4 {
		t.Errorf("a group of 45 members appeared %d times, want 4 (itself, then 20 members an appearance)", gc.seen[everyone])
	}
	for _, g := range gc.groups {
		if _, ok := g["mail"]; ok {
			t.Errorf("mail served though not selected: %v", g)
		}
	}
	plain := b.syncRound(t, tok, "/v1.0/groups/delta?$select=displayName", func(it map[string]json.RawMessage) {
		if _, ok := it["members@delta"]; ok {
			t.Errorf("members@delta without members selected: %v", it)
		}
	})
	_, body := b.get(t, tok, "/v1.0/groups/delta?$deltaToken=latest")
	var latest page
	_ = json.Unmarshal(body, &latest)
	if len(latest.Value) != 0 || latest.DeltaLink == "" {
		t.Fatalf("$deltaToken=latest: %s", body)
	}

	// Changes: members added and removed, groups created, renamed, deleted,
	// a user removed from the tenant.
	var security []string
	for _, raw := range truth() {
		if !strings.Contains(string(raw), `"Unified"`) {
			security = append(security, jsonField(t, string(raw), "id"))
		}
	}
	gid, err := b.srv.CreateGroup("Auditors", users[1].ID, users[2].UserPrincipalName)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.srv.AddGroupMember(security[0], users[3].ID); err != nil && !strings.Contains(err.Error(), "already") {
		t.Fatal(err)
	}
	if err := b.srv.AddGroupMember(everyone, users[3].ID); err == nil {
		t.Error("a team's group took a member directly")
	}
	if err := b.srv.DeleteGroup(security[1]); err != nil {
		t.Fatal(err)
	}
	b.srv.RemoveUser(users[4].ID)
	kinds := map[string]int{}
	for i := 0; i < 20 && (kinds["groupMember added"] == 0 || kinds["groupMember removed"] == 0 || kinds["group created"] == 0); i++ {
		for _, m := range b.srv.Mutate(100) {
			if f := strings.Fields(m); len(f) > 1 && strings.HasPrefix(f[0], "group") {
				kinds[f[0]+" "+f[1]]++
			}
		}
	}
	gc.seen = map[string]int{}
	link = b.syncRound(t, tok, link, gc.apply)
	gc.check(t, "after changes", truth(), "displayName", "description")
	if gc.groups[gid] == nil || gc.removed[security[1]] != "deleted" {
		t.Errorf("created %v, deleted %q", gc.groups[gid] != nil, gc.removed[security[1]])
	}
	_ = link
	if _, ok := gc.members[everyone][users[4].ID]; ok {
		t.Error("a removed user is still a member")
	}
	// The latest link sees only later changes.
	if err := b.srv.RemoveGroupMember(gid, users[1].ID); err != nil {
		t.Fatal(err)
	}
	var got []map[string]json.RawMessage
	b.syncRound(t, tok, latest.DeltaLink, func(it map[string]json.RawMessage) { got = append(got, it) })
	if len(got) == 0 {
		t.Error("the link from $deltaToken=latest reports nothing")
	}
	// The plain round (no members) reports the groups whose properties or
	// existence changed only.
	b.syncRound(t, tok, plain, func(it map[string]json.RawMessage) {
		if _, ok := it["members@delta"]; ok {
			t.Errorf("members@delta without members selected: %v", it)
		}
	})
	// A filter on ids.
	var only []string
	b.syncRound(t, tok, "/v1.0/groups/delta?$filter="+url.QueryEscape("id eq '"+everyone+"'"), func(it map[string]json.RawMessage) { only = append(only, str(it, "id")) })
	if len(only) == 0 || slices.ContainsFunc(only, func(id string) bool { return id != everyone }) {
		t.Errorf("filtered round: %v", only)
	}
	// /groups and /groups/{id}/members agree.
	for _, raw := range truth() {
		var want struct {
			ID      string   `json:"id"`
			Members []string `json:"@emulator.members"`
		}
		_ = json.Unmarshal(raw, &want)
		members := b.listAll(t, tok, "/v1.0/groups/"+want.ID+"/members?$select=id")
		if got := ids(members); !slices.Equal(got, want.Members) {
			t.Errorf("members of %s: %v, truth %v", want.ID, got, want.Members)
		}
		if len(members) > 0 && str(members[0], "@odata.type") != "#microsoft.graph.user" {
			t.Errorf("member without its type: %v", members[0])
		}
	}
	if all := b.listAll(t, tok, "/v1.0/groups?$select=id,displayName"); len(all) != len(truth()) {
		t.Errorf("/groups lists %d groups, truth %d", len(all), len(truth()))
	}
}

// Groups need a directory permission: a token without one is refused in
// the directory's way.
func TestGroupsPermission(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 62, Users: 2, MessagesPerUser: 1})
	tok := b.userTokens(t, "Mail.Read", "")["access_token"].(string)
	resp, body := b.get(t, tok, "/v1.0/groups/delta")
	if code, _ := graphErr(t, body); resp.StatusCode != 403 || code != "Authorization_RequestDenied" {
		t.Errorf("groups delta with Mail.Read: %d %s", resp.StatusCode, body)
	}
	tok = b.userTokens(t, "GroupMember.Read.All", "")["access_token"].(string)
	if resp, body := b.get(t, tok, "/v1.0/groups/delta"); resp.StatusCode != 200 {
		t.Errorf("groups delta with GroupMember.Read.All: %d %s", resp.StatusCode, body)
	}
}

// Groups take subscriptions (Group.Read.All): a membership change or an
// update is "updated", a security group's deletion "deleted", per group.
// https://learn.microsoft.com/graph/api/resources/subscription
func TestGroupSubscription(t *testing.T) {
	t.Parallel()
	cfg := notifyCfg()
	cfg.Apps = []App{{ClientID: defaultClientID, Secret: defaultSecret, RedirectURIs: []string{defaultRedirect}, Roles: []string{"Group.Read.All"}}}
	b := setup(t, cfg)
	tok := b.appToken(t)
	all, one := newReceiver(t), newReceiver(t)
	users := b.srv.Users()
	gid, err := b.srv.CreateGroup("Auditors", users[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	other, err := b.srv.CreateGroup("Reviewers")
	if err != nil {
		t.Fatal(err)
	}
	b.mustSubscribe(t, tok, sub("groups", "updated,deleted", all.URL()))
	b.mustSubscribe(t, tok, sub("groups/"+gid, "updated", one.URL()))
	if err := b.srv.AddGroupMember(gid, users[1].ID); err != nil {
		t.Fatal(err)
	}
	if err := b.srv.DeleteGroup(other); err != nil {
		t.Fatal(err)
	}
	waitScanned(t, b.srv.Emulator)
	got := all.waitNotes(t, 2, nil)
	kinds := map[string]string{}
	for _, n := range got {
		kinds[resourceData(t, n)["id"].(string)] = n["changeType"].(string)
	}
	if kinds[gid] != "updated" || kinds[other] != "deleted" {
		t.Errorf("groups notifications: %v", kinds)
	}
	if n := one.waitNotes(t, 1, nil); n[0]["resource"] != "Groups/"+gid {
		t.Errorf("one group's notification: %v", n[0])
	}
}
