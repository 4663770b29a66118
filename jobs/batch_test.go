package jobs_test

import (
	"testing"
	"time"

	"github.com/graphsync/graphsync/emulator"
)

// An idle pass asks for a mailbox's delta links in JSON batches, and a
// pass after changes goes through the same page handling: the tables end
// equal to the ground truth.
func TestIdlePassBatchesDeltaLinks(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{Users: 2, MessagesPerUser: 40, EventsPerUser: 6, ContactsPerUser: 6},
		resources: []string{"mail", "calendar", "contacts"}})
	b.syncNow(t, time.Minute)
	streams := b.count(t, `SELECT count(*) FROM sync_state WHERE delta_link <> '' AND next_link IS NULL AND resource IN ('mail', 'calendar', 'contacts')`)

	b.em.ResetCounters()
	b.syncNow(t, time.Minute)
	c := b.em.Counters()
	batches := c.Requests["$batch"][200]
	t.Logf("idle pass of %d delta streams in %d mailboxes: %d round trips, %d of them batches", streams, len(b.conns), c.RoundTrips, batches)
	if batches == 0 {
		t.Fatal("the idle pass sent no batch")
	}
	// A batch per mailbox holds its delta streams (the token refreshes and
	// user lookups are the only other round trips).
	if c.RoundTrips*3 > int64(streams) {
		t.Fatalf("the idle pass of %d delta streams took %d round trips, want at most a third", streams, c.RoundTrips)
	}

	b.em.Mutate(60)
	b.syncNow(t, time.Minute)
	b.assertMailMatchesTruth(t)
	b.assertCalendarMatchesTruth(t)
	b.assertMatchesTruth(t, "contacts")
}

// An idle pass of a connection with every per-user resource asks for the
// first pages of all its services (Outlook's delta links, OneDrive's,
// the channels', the chat, joined teams and People lists) in batches, each
// request charged to its own service; only the teams' own reads go alone.
// What the batches brought back is stored as single requests would have.
func TestIdlePassBatchesEveryService(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{Users: 2, MessagesPerUser: 20, EventsPerUser: 4, ContactsPerUser: 4,
		DriveItemsPerUser: 6, ChatsPerUser: 2, ChatMessagesPerChat: 3, PeoplePerUser: 4},
		resources: []string{"mail", "calendar", "contacts", "drive", "chats", "channels", "people"}})
	b.syncNow(t, 2*time.Minute)
	streams := b.count(t, `SELECT count(*) FROM sync_state WHERE stream <> ''`)

	b.em.ResetCounters()
	b.syncNow(t, time.Minute)
	c := b.em.Counters()
	batches := c.Requests["$batch"][200]
	var teamReads int64
	for route, byStatus := range c.Requests {
		if route == "teams/{t}" || route == "teams/{t}/channels" {
			teamReads += byStatus[200]
		}
	}
	t.Logf("idle pass of %d streams in %d mailboxes: %d round trips, %d batches, %d team reads", streams, len(b.conns), c.RoundTrips, batches, teamReads)
	if want := int64(len(b.conns)) * 2; batches > want || batches < int64(len(b.conns)) {
		t.Fatalf("%d batches for %d mailboxes, want one or two each", batches, len(b.conns))
	}
	if alone := c.RoundTrips - batches - teamReads; alone > 0 {
		t.Fatalf("%d requests went alone beside the batches and the teams' reads: %v", alone, c.Requests)
	}
	for _, route := range []string{"drives/{d}/root/delta", "users/{u}/chats", "users/{u}/people", "users/{u}/joinedTeams", "teams/{t}/channels/{c}/messages/delta"} {
		if c.Requests[route][200] == 0 {
			t.Errorf("no %s in the idle pass's batches", route)
		}
	}

	b.em.Mutate(80)
	b.syncNow(t, 2*time.Minute)
	b.assertMailMatchesTruth(t)
	for _, res := range []string{"drive", "channels", "people"} {
		b.assertMatchesTruth(t, res)
	}
	b.assertChatsMatchTruth(t)
}
