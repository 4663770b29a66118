package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/worker"
)

// A resource whose permission the user never granted is marked
// missing_scope with the permission it needs; the connection's other
// resources keep syncing.
func TestMissingScopeMarksOnlyThatResource(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{Users: 1, MessagesPerUser: 60}, resources: []string{"mail"}})
	conn := b.conns[0]
	// Enabled after consent: the token carries Mail.Read only.
	if err := b.store.SetResources(context.Background(), conn.ID, []*graphsync.Resource{graphsync.Mail, graphsync.Calendar}); err != nil {
		t.Fatal(err)
	}
	b.syncNow(t, time.Minute)

	states, err := b.store.SyncStates(context.Background(), conn.ID)
	if err != nil {
		t.Fatal(err)
	}
	var calendar, mail int
	for _, st := range states {
		switch st.Resource.Name() {
		case "calendar":
			// The resource's own row carries the verdict `graphsync status` shows.
			if st.Container != "" {
				continue
			}
			calendar++
			if st.Status != "missing_scope" || st.MissingScope != "Calendars.Read" {
				t.Errorf("calendar: status %q, missing scope %q; want missing_scope Calendars.Read", st.Status, st.MissingScope)
			}
		case "mail":
			mail++
			if st.Status != "ok" {
				t.Errorf("mail stream %q: status %q, want ok", st.Container, st.Status)
			}
		}
	}
	if calendar == 0 || mail == 0 {
		t.Fatalf("%d calendar and %d mail streams recorded", calendar, mail)
	}
	b.assertMailMatchesTruth(t)
	if n := b.count(t, "SELECT count(*) FROM connections WHERE id = $1 AND status = 'active'", conn.ID); n != 1 {
		t.Fatal("a missing scope changed the connection's status")
	}
}

// A Retry-After from each Graph service blocks exactly the scope Microsoft
// documents for it (learn.microsoft.com/graph/throttling-limits): Outlook
// and People per app and mailbox, Teams, OneDrive and the directory per app
// and tenant. The window is recorded for every process under that scope
// and no other, and the connection's other resources sync all the same.
func TestThrottleScopePerService(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		resource    string
		route       string // the requests that answer 503 with Retry-After
		application bool
		want        func(tenant, user string) string
	}{
		{"mail", "mailFolders", false, func(tn, u string) string { return "mailbox:" + tn + "/" + u }},
		{"people", "/people", false, func(tn, u string) string { return "mailbox:" + tn + "/" + u }},
		{"drive", "/drive/", false, func(tn, _ string) string { return "tenant:" + tn + "/onedrive" }},
		{"chats", "/chats", false, func(tn, _ string) string { return "tenant:" + tn + "/teams" }},
		{"users", "/users/delta", true, func(tn, _ string) string { return "tenant:" + tn + "/directory" }},
	} {
		t.Run(tc.resource, func(t *testing.T) {
			t.Parallel()
			resources := []string{"calendar", tc.resource}
			if tc.resource == "users" {
				resources = []string{"calendar"}
			}
			b := setup(t, options{emu: emulator.Config{Users: 1, MessagesPerUser: 20, EventsPerUser: 5, DriveItemsPerUser: 5,
				ChatsPerUser: 1, ChatMessagesPerChat: 3, PeoplePerUser: 5}, resources: resources, application: tc.application,
				worker: func(c *worker.Config) { c.Graph.MaxInlineWait = 10 * time.Millisecond; c.Graph.MaxRetries = 1 }})
			b.em.SetFaults(emulator.Faults{Routes: []string{tc.route}, Status503: 1, RetryAfter: 1})
			if _, err := b.svc.EnqueueSync(context.Background(), b.client, 0, nil); err != nil {
				t.Fatal(err)
			}
			conn := b.conns[0]
			user := conn.UserID
			if tc.application {
				user = "" // discovery is what is throttled: no user is known yet
			}
			want := tc.want(conn.TenantID, user)
			waitFor(t, time.Minute, "the throttle window of "+tc.resource, func() bool {
				return b.count(t, "SELECT count(*) FROM throttle_windows WHERE scope = $1", want) == 1
			})
			if n := b.count(t, "SELECT count(*) FROM throttle_windows WHERE scope <> $1", want); n != 0 {
				var other string
				_ = b.store.Pool().QueryRow(context.Background(), "SELECT string_agg(scope, ', ') FROM throttle_windows WHERE scope <> $1", want).Scan(&other)
				t.Fatalf("a 503 with Retry-After from %s also blocked %s; want only %s", tc.resource, other, want)
			}
			if tc.application {
				return
			}
			// Calendar shares the mailbox's Outlook budget with mail and
			// People: it syncs unless they were the ones throttled.
			b.em.SetFaults(emulator.Faults{})
			b.waitIdle(t, time.Minute)
			b.assertMatchesTruth(t, "calendar")
		})
	}
}
