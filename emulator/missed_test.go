package emulator

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// With MissedChanges and immutable ids, a message moved out of a folder
// and back is reported removed from the folder and not again
// (microsoftgraph/microsoft-graph-docs#21752): a client following delta
// loses it, the truth and the id-only listing keep it. Default ids, or the
// switch off, report the return.
func TestMissedMoveBack(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		missed   bool
		imm      bool
		wantLost bool
	}{{"missed with immutable ids", true, true, true}, {"missed with default ids", true, false, false}, {"switch off", false, true, false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, Config{Seed: 71, Users: 1, MessagesPerUser: 60, MissedChanges: tc.missed})
			tok := b.appToken(t)
			u := b.srv.Users()[0]
			var hdr []string
			if tc.imm {
				hdr = []string{"Prefer", `IdType="ImmutableId"`}
			}
			state := map[string]bool{}
			apply := func(it map[string]json.RawMessage) {
				if _, gone := it["@removed"]; gone {
					delete(state, str(it, "id"))
				} else {
					state[str(it, "id")] = true
				}
			}
			link := b.syncRound(t, tok, "/v1.0/users/"+u.ID+"/mailFolders/inbox/messages/delta?$select=subject", apply, hdr...)
			em := b.srv.Emulator
			em.mu.Lock()
			mb := em.users[0].mail
			var m *message
			for _, k := range sortedKeys(mb.msgs) {
				if mb.msgs[k].f.wellKnown == "inbox" {
					m = mb.msgs[k]
					break
				}
			}
			em.moveMessage(em.users[0], em.nextVersion(), m, mb.folder("archive"))
			em.moveMessage(em.users[0], em.nextVersion(), m, mb.folder("inbox"))
			served := m.e.servedID(tc.imm)
			em.mu.Unlock()
			b.syncRound(t, tok, link, apply, hdr...)
			if lost := !state[served]; lost != tc.wantLost {
				t.Errorf("after moving out and back, the client lost the message: %v, want %v", lost, tc.wantLost)
			}
			// The id-only listing, paged by $skip, always has it.
			listed := b.listAll(t, tok, "/v1.0/users/"+u.ID+"/mailFolders/inbox/messages?$select=id&$top=7", hdr...)
			if !slices.Contains(ids(listed), served) {
				t.Errorf("the id-only listing lacks %s", served)
			}
		})
	}
}

// Id-only listings page as documented: a folder's messages by $skip (10 by
// default), a drive folder's children by $skiptoken; every live item once,
// ids only.
func TestIDOnlyListings(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 72, Users: 1, MessagesPerUser: 80, LazyMessages: 25, DriveItemsPerUser: 60})
	tok := b.appToken(t)
	u := b.srv.Users()[0]
	resp, body := b.get(t, tok, "/v1.0/users/"+u.ID+"/mailFolders/inbox/messages?$select=id")
	var p page
	_ = json.Unmarshal(body, &p)
	if resp.StatusCode != 200 || len(p.Value) != 10 || !strings.Contains(p.NextLink, "%24skip=10") {
		t.Fatalf("first page: %d, %d items, next %q", resp.StatusCode, len(p.Value), p.NextLink)
	}
	for _, it := range p.Value {
		for k := range it {
			if k != "id" && !strings.HasPrefix(k, "@odata.") {
				t.Fatalf("$select=id served %s", k)
			}
		}
	}
	// Every folder, the lazy archive included, against the truth.
	want := map[string]bool{}
	for _, raw := range must(b.srv.Truth(u.ID, "messages")) {
		want[jsonField(t, string(raw), "id")] = true
	}
	got := map[string]int{}
	for _, raw := range must(b.srv.Truth(u.ID, "mailFolders")) {
		f := jsonField(t, string(raw), "id")
		for _, it := range b.listAll(t, tok, "/v1.0/users/"+u.ID+"/mailFolders/"+f+"/messages?$select=id&$top=33") {
			got[str(it, "id")]++
		}
	}
	if len(got) != len(want) {
		t.Errorf("listings have %d messages, truth %d", len(got), len(want))
	}
	for id, n := range got {
		if n != 1 || !want[id] {
			t.Errorf("message %s listed %d times (in truth: %v)", id, n, want[id])
		}
	}
	if resp, _ := b.get(t, tok, "/v1.0/users/"+u.ID+"/mailFolders/inbox/messages?$filter="+url.QueryEscape("isRead eq false")); resp.StatusCode != 400 {
		t.Errorf("$filter: %d", resp.StatusCode)
	}
	// Drive children, walked from the root with ids only.
	driveItems := truthByID(t, must(b.srv.Truth(u.ID, "driveItems")))
	seen := map[string]bool{}
	var walk func(id string)
	walk = func(id string) {
		path := "/v1.0/users/" + u.ID + "/drive/items/" + id + "/children?$select=id,folder&$top=4"
		for _, it := range b.listAll(t, tok, path) {
			seen[str(it, "id")] = true
			if _, isFolder := it["folder"]; isFolder {
				walk(str(it, "id"))
			}
		}
	}
	var root string
	for id, it := range driveItems {
		if _, ok := it["root"]; ok {
			root = id
		}
	}
	walk(root)
	if len(seen) != len(driveItems)-1 {
		t.Errorf("children walk found %d items, the drive has %d below its root", len(seen), len(driveItems)-1)
	}
}

// With MissedChanges some drive deletions come without a tombstone
// (OneDrive/onedrive-api-docs#1927): a client following delta keeps items
// the truth no longer has; without the switch every deletion arrives.
func TestMissedDriveDeletions(t *testing.T) {
	t.Parallel()
	for _, missed := range []bool{true, false} {
		b := setup(t, Config{Seed: 73, Users: 1, MessagesPerUser: 2, DriveItemsPerUser: 80, MissedChanges: missed})
		tok := b.appToken(t)
		u := b.srv.Users()[0]
		state := map[string]bool{}
		apply := func(it map[string]json.RawMessage) {
			if _, gone := it["deleted"]; gone {
				delete(state, str(it, "id"))
			} else {
				state[str(it, "id")] = true
			}
		}
		link := b.syncRound(t, tok, "/v1.0/users/"+u.ID+"/drive/root/delta?$select=id", apply)
		em := b.srv.Emulator
		em.mu.Lock()
		d := em.users[0].od
		var files []*entry
		for _, e := range d.col.live() {
			if !e.aux.(*driveState).folder {
				files = append(files, e)
			}
		}
		for _, e := range files[:12] {
			em.deleteDriveItem(d, em.nextVersion(), e)
		}
		em.mu.Unlock()
		b.syncRound(t, tok, link, apply)
		truth := truthByID(t, must(b.srv.Truth(u.ID, "driveItems")))
		stale := 0
		for id := range state {
			if truth[id] == nil {
				stale++
			}
		}
		if missed && stale == 0 {
			t.Error("MissedChanges: every deletion arrived")
		}
		if !missed && stale != 0 {
			t.Errorf("without MissedChanges %d deletions went missing", stale)
		}
		if len(state)-stale != len(truth) {
			t.Errorf("missed=%v: client has %d live items, truth %d", missed, len(state)-stale, len(truth))
		}
	}
}
