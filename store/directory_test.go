package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/pgtest"
	"github.com/graphsync/graphsync/store"
)

// newApplication saves an application connection: a whole tenant.
func newApplication(t *testing.T, s *store.Store) *store.Connection {
	t.Helper()
	c, err := s.SaveConnection(context.Background(), &store.Connection{
		Kind: store.KindApplication, TenantID: "tenant-1", Resources: graphsync.Resources,
	}, store.Tokens{AccessToken: "a"})
	if err != nil {
		t.Fatalf("save connection: %v", err)
	}
	return c
}

// directoryUser is a user of the tenant as users/delta sends it.
func directoryUser(t testing.TB, id string) graphsync.Row {
	return item(t, graphsync.Users.Items(), graphsync.MapContext{}, map[string]any{
		"id": id, "userPrincipalName": id + "@contoso.test", "mail": id + "@Contoso.test", "accountEnabled": true})
}

// userItems returns, for every table synced per user, one item read for
// user, as Graph sends it.
func userItems(t testing.TB, user string) map[*graphsync.Table]graphsync.Row {
	items := map[*graphsync.Table]graphsync.Row{}
	for _, it := range []struct {
		table     *graphsync.Table
		container string
		members   map[string]any
	}{
		{graphsync.Mail.Folders(), "", map[string]any{"id": "mf-" + user, "parentFolderId": "root"}},
		{graphsync.Mail.Items(), "mf-" + user, map[string]any{"id": "m-" + user, "parentFolderId": "mf-" + user,
			"receivedDateTime": "2025-03-01T10:00:00Z"}},
		{graphsync.Mail.Items().Details.Table, "m-" + user, map[string]any{"@odata.type": "#microsoft.graph.fileAttachment",
			"id": "a-" + user, "name": "a.pdf"}},
		{graphsync.Calendar.Items(), "", eventJSON("e-"+user, inWindow)},
		{graphsync.Contacts.Folders(), "", map[string]any{"id": "cf-" + user, "parentFolderId": "def"}},
		{graphsync.Contacts.Items(), "cf-" + user, map[string]any{"id": "ct-" + user, "parentFolderId": "cf-" + user,
			"createdDateTime": "2025-01-01T00:00:00Z"}},
		{graphsync.Drive.Items(), graphsync.OwnDrive, map[string]any{"id": "root-" + user, "name": "root",
			"root": map[string]any{}, "parentReference": map[string]any{"driveId": "d-" + user}}},
		{graphsync.Drive.Items().Details.Table, "root-" + user, map[string]any{"id": "perm-" + user, "roles": []string{"owner"}}},
		{graphsync.Chats.Folders(), "", map[string]any{"id": "chat-" + user, "chatType": "group"}},
		{graphsync.Chats.Items(), "chat-" + user, map[string]any{"id": "1", "lastModifiedDateTime": "2025-03-01T10:00:00Z"}},
		{graphsync.Channels.Outer(), "", map[string]any{"id": "team-" + user}},
		{graphsync.Channels.Folders(), "team-" + user, map[string]any{"id": "19:ch-" + user}},
		{graphsync.Channels.Items(), "19:ch-" + user, map[string]any{"id": "1", "lastModifiedDateTime": "2025-03-01T10:00:00Z"}},
		// The same person for every user: people are keyed by user too.
		{graphsync.People.Items(), "", map[string]any{"id": "p", "displayName": "P"}},
	} {
		items[it.table] = item(t, it.table, graphsync.MapContext{User: user, Container: it.container, Position: 1}, it.members)
	}
	return items
}

// A user who leaves the tenant takes along every row synced for them,
// except those of what they shared with others (chats), and their streams
// stop; a user who comes back has their streams resumed.
func TestUserDiscovery(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.Store(t)
	c := newApplication(t, s)
	users := graphsync.Users.Items()
	discovery := stream(c, graphsync.Users, "", "")

	upsert(t, s, users, c.ID, []graphsync.Row{directoryUser(t, "u1"), directoryUser(t, "u2")}, nil)
	var finished []store.Finish
	for _, u := range []string{"u1", "u2"} {
		for table, row := range userItems(t, u) {
			upsert(t, s, table, c.ID, []graphsync.Row{row}, nil)
		}
		for _, st := range []graphsync.Stream{stream(c, graphsync.Mail, u, ""), stream(c, graphsync.Mail, u, "mf-"+u),
			stream(c, graphsync.Drive, u, graphsync.OwnDrive)} {
			finished = append(finished, store.Finish{Stream: st, DeltaLink: "https://graph.test/delta/" + u})
		}
	}
	finished = append(finished, store.Finish{Stream: discovery, DeltaLink: "https://graph.test/delta/users"})
	if err := s.FinishRounds(ctx, finished); err != nil {
		t.Fatal(err)
	}
	// perUser says how many of user's rows are live in each table synced
	// per user, and fails the test if one has no item above.
	perUser := func(user string) map[string]int {
		t.Helper()
		items := userItems(t, user)
		out := map[string]int{}
		// Tables only tenant-level resources write (sites, libraries) hold
		// no user's rows; drive_items is also a OneDrive's.
		var mailbox []*graphsync.Table
		for _, r := range graphsync.Resources {
			mailbox = append(mailbox, r.Tables()...)
		}
		for _, table := range graphsync.Tables() {
			if table.Map == nil || table.Directory || table.Tenant || !slices.Contains(mailbox, table) {
				continue
			}
			if _, ok := items[table]; !ok {
				t.Fatalf("no item of %s in userItems: the test does not cover it", table.Name)
			}
			out[table.Name] = count(t, s, "SELECT count(*) FROM "+table.Name+" WHERE connection_id = $1 AND "+
				table.UserColumn()+" = $2 AND deleted_at IS NULL", c.ID, user)
		}
		return out
	}
	// streams says the status and delta link of user's streams.
	streams := func(user string) map[string]string {
		t.Helper()
		states, err := s.UserStreams(ctx, c.ID, user)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, st := range states {
			out[st.Stream.String()] = st.Status + " " + st.DeltaLink
		}
		return out
	}
	wantStreams := func(user, status, link string) {
		t.Helper()
		got := streams(user)
		if len(got) != 3 {
			t.Fatalf("%s has %d streams, want 3: %v", user, len(got), got)
		}
		for name, state := range got {
			if state != status+" "+link {
				t.Errorf("stream %s: %q, want %q", name, state, status+" "+link)
			}
		}
	}

	if r := remove(t, s, users, discovery, graphsync.Window{}, "u1"); r.Deleted != 1 {
		t.Fatalf("removed %d users, want 1", r.Deleted)
	}
	for name, live := range perUser("u1") {
		want := 0
		switch name {
		case "chats", "chat_messages", "teams", "channels", "channel_messages":
			want = 1 // a chat or team is also its other members'
		}
		if live != want {
			t.Errorf("%s: %d live rows of the user who left, want %d", name, live, want)
		}
	}
	for name, live := range perUser("u2") {
		if live != 1 {
			t.Errorf("%s: %d live rows of the user who stayed, want 1", name, live)
		}
	}
	wantStreams("u1", store.StreamStopped, "")
	wantStreams("u2", store.StreamOK, "https://graph.test/delta/u2")
	if st, err := s.SyncState(ctx, discovery); err != nil || st.Status != store.StreamOK || st.DeltaLink == "" {
		t.Fatalf("user discovery's own stream: %+v (%v), want it untouched", st, err)
	}

	// A job that was running when u1 left goes on to write a stream of
	// theirs; it is stopped afterwards.
	if _, err := s.StartRound(ctx, stream(c, graphsync.Chats, "u1", "list"), true); err != nil {
		t.Fatal(err)
	}
	if err := s.StopStreamsOfRemovedUsers(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.SyncState(ctx, stream(c, graphsync.Chats, "u1", "list")); st.Status != store.StreamStopped {
		t.Fatalf("stream written after the user left: status %s, want stopped", st.Status)
	}

	// Back in the tenant, u1's streams are due again, to be read in full.
	if n := upsert(t, s, users, c.ID, []graphsync.Row{directoryUser(t, "u1")}, nil); n != 1 {
		t.Fatalf("returning user: upsert changed %d rows, want 1", n)
	}
	for _, st := range []graphsync.Stream{stream(c, graphsync.Mail, "u1", ""), stream(c, graphsync.Chats, "u1", "list")} {
		state, err := s.SyncState(ctx, st)
		if err != nil || state.Status != store.StreamOK || state.LastSuccessAt != nil || state.DeltaLink != "" {
			t.Fatalf("stream %s of the returning user: %+v (%v), want ok, never synced, no delta link", st, state, err)
		}
	}
	if live, err := s.IsLive(ctx, users, c.ID, "u1"); err != nil || !live {
		t.Fatalf("returning user live = %t (%v)", live, err)
	}

	// A full round of the tenant's users retires those it did not see.
	since := time.Now()
	upsert(t, s, users, c.ID, []graphsync.Row{directoryUser(t, "u1")}, &since)
	if r := retireUnseen(t, s, users, discovery, since, graphsync.Window{}); r.Deleted != 1 {
		t.Fatalf("full round retired %d users, want 1 (u2)", r.Deleted)
	}
	wantStreams("u2", store.StreamStopped, "")
	if n := perUser("u2")["mail_messages"]; n != 0 {
		t.Fatalf("%d live messages of the user the full round did not see", n)
	}
	if ids, err := s.LiveIDs(ctx, users, c.ID, ""); err != nil || len(ids) != 1 || ids[0] != "u1" {
		t.Fatalf("live users %v (%v), want [u1]", ids, err)
	}
}
