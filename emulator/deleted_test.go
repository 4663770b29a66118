package emulator

import (
	"encoding/json"
	"slices"
	"testing"
)

// DeletedTruth holds what a client completed a round over while it was
// live and that was deleted since; not what was deleted before the client
// presented the round's deltaLink, nor what lived only between two rounds,
// nor what was deleted while the round that would have held it was being
// served (its page served it as removed, or not at all).
func TestDeletedTruth(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 46, Users: 1, MessagesPerUser: 30})
	tok := b.appToken(t)
	u := b.srv.Users()[0].ID
	inbox := folderIDs(t, b, tok, u)["Inbox"]
	em := b.srv.Emulator
	mb := em.users[0].mail
	f := mb.byID[inbox]
	deleteOne := func() string {
		t.Helper()
		em.mu.Lock()
		defer em.mu.Unlock()
		for _, e := range f.msgs.live() {
			if m, ok := e.aux.(*message); ok {
				em.deleteMessage(em.users[0], em.nextVersion(), m)
				return e.id
			}
		}
		t.Fatal("no message left in the inbox")
		return ""
	}
	deleted := func() []string {
		t.Helper()
		out, err := b.srv.DeletedTruth(u, "messages")
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, raw := range out {
			var o struct{ ID string }
			if err := json.Unmarshal(raw, &o); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, o.ID)
		}
		return ids
	}

	start := "/v1.0/users/" + u + "/mailFolders/" + inbox + "/messages/delta"
	delta := b.syncRound(t, tok, start, func(map[string]json.RawMessage) {})
	early := deleteOne()
	if got := deleted(); len(got) != 0 {
		t.Fatalf("before the round's deltaLink was presented: %v", got)
	}
	next := b.syncRound(t, tok, delta, func(map[string]json.RawMessage) {}) // presents the deltaLink
	if got := deleted(); !slices.Equal(got, []string{early}) {
		t.Fatalf("after the deltaLink was presented: %v, want %s", got, early)
	}
	em.mu.Lock()
	fresh := em.addMessage(em.users[0], em.nextVersion(), f, em.now())
	em.deleteMessage(em.users[0], em.nextVersion(), fresh)
	em.mu.Unlock()
	last := b.syncRound(t, tok, next, func(map[string]json.RawMessage) {})
	if got := deleted(); slices.Contains(got, fresh.e.id) {
		t.Fatalf("a message created and deleted between two rounds is reported: %v", got)
	}

	// A round in pages of one: a message deleted after the first page,
	// before its own, is served as removed, never live.
	em.mu.Lock()
	em.addMessage(em.users[0], em.nextVersion(), f, em.now())
	late := em.addMessage(em.users[0], em.nextVersion(), f, em.now())
	em.mu.Unlock()
	first := b.getPage(t, tok, last, "Prefer", "odata.maxpagesize=1")
	em.mu.Lock()
	em.deleteMessage(em.users[0], em.nextVersion(), late)
	em.mu.Unlock()
	rest := b.syncRound(t, tok, first.NextLink, func(map[string]json.RawMessage) {}, "Prefer", "odata.maxpagesize=1")
	b.syncRound(t, tok, rest, func(map[string]json.RawMessage) {})
	if got := deleted(); slices.Contains(got, late.e.id) {
		t.Fatalf("a message deleted while the round was served is reported: %v", got)
	}

	// Over the control plane, with immutable ids as graphsync asks for.
	resp, body := b.get(t, "", "/_emulator/truth/"+u+"/messages/deleted?idType=ImmutableId")
	var objs []map[string]any
	if resp.StatusCode != 200 || json.Unmarshal(body, &objs) != nil || len(objs) != 1 || objs[0]["id"] == early {
		t.Fatalf("control plane: %d %s", resp.StatusCode, body)
	}
	// Per reader: the rounds above were the application's; a user who
	// completed none holds nothing as deleted (a delegate syncing this
	// mailbox as a shared one is checked as itself).
	for reader, want := range map[string]int{"app": 1, u: 0} {
		resp, body := b.get(t, "", "/_emulator/truth/"+u+"/messages/deleted?reader="+reader)
		var objs []json.RawMessage
		if resp.StatusCode != 200 || json.Unmarshal(body, &objs) != nil || len(objs) != want {
			t.Fatalf("reader %s: %d %s, want %d objects", reader, resp.StatusCode, body, want)
		}
	}
	if _, err := b.srv.DeletedTruth(u, "people"); err == nil {
		t.Error("deleted truth of people accepted")
	}
}
