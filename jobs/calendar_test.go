package jobs_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/worker"
)

// assertCalendarMatchesTruth compares every connection's live events with
// the emulator's ground truth within the window stored for the calendar.
func (b *bundle) assertCalendarMatchesTruth(t *testing.T) {
	t.Helper()
	b.assertMatchesTruth(t, "calendar")
}

// countEventMutations counts the calendar changes among Mutate's output.
func countEventMutations(applied []string) int {
	n := 0
	for _, a := range applied {
		if strings.HasPrefix(a, "event ") {
			n++
		}
	}
	return n
}

func TestCalendarSyncMatchesGroundTruth(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{Users: 2, EventsPerUser: 80}, resources: []string{"calendar"}})
	b.syncNow(t, time.Minute)
	b.assertCalendarMatchesTruth(t)

	// Series arrive expanded: the master, its occurrences and an exception.
	for _, typ := range []string{"singleInstance", "seriesMaster", "occurrence", "exception"} {
		if n := b.count(t, `SELECT count(*) FROM calendar_events WHERE type = $1`, typ); n == 0 {
			t.Fatalf("no %s events synced", typ)
		}
	}
	// Occurrences name their master by the id it is stored under.
	if n := b.count(t, `SELECT count(*) FROM calendar_events o WHERE o.series_master_id IS NOT NULL AND NOT EXISTS (
		SELECT 1 FROM calendar_events m WHERE m.connection_id = o.connection_id AND m.id = o.series_master_id)`); n != 0 {
		t.Fatalf("%d occurrences or exceptions name a series master that is not stored", n)
	}
	// Occurrences carry their master's attendees for meeting-load analytics.
	if n := b.count(t, `SELECT count(*) FROM calendar_events o WHERE o.type = 'occurrence' AND NOT EXISTS (
		SELECT 1 FROM calendar_event_attendees a WHERE a.connection_id = o.connection_id AND a.event_id = o.id)`); n != 0 {
		t.Fatalf("%d occurrences without their master's attendees", n)
	}
	if n := b.count(t, `SELECT count(*) FROM calendar_events WHERE type = 'seriesMaster' AND recurrence IS NULL`); n != 0 {
		t.Fatalf("%d series masters without their recurrence", n)
	}
	if n := b.count(t, `SELECT count(*) FROM calendar_events WHERE type <> 'occurrence' AND (organizer_address IS NULL OR response IS NULL OR show_as IS NULL)`); n != 0 {
		t.Fatalf("%d full events lack organizer, response or showAs", n)
	}
	if n := b.count(t, `SELECT count(*) FROM calendar_events WHERE is_online_meeting AND online_meeting_url IS NULL`); n != 0 {
		t.Fatalf("%d online meetings without a join URL", n)
	}

	// Mutations: created, updated, rescheduled, cancelled and deleted events.
	applied := b.em.Mutate(400)
	if n := countEventMutations(applied); n < 20 {
		t.Fatalf("only %d of %d mutations touched events", n, len(applied))
	}
	b.syncNow(t, time.Minute)
	b.assertCalendarMatchesTruth(t)

	// Deleted events are told apart from events that left the window, and
	// their attendees go with them.
	if n := b.count(t, `SELECT count(*) FROM calendar_events WHERE deleted_at IS NOT NULL AND removed_reason = 'deleted'`); n == 0 {
		t.Fatal("no event marked deleted after mutations deleted some")
	}
	if n := b.count(t, `SELECT count(*) FROM calendar_event_attendees a JOIN calendar_events e
		ON e.connection_id = a.connection_id AND e.id = a.event_id WHERE e.removed_reason = 'deleted'`); n != 0 {
		t.Fatalf("%d attendees kept for deleted events", n)
	}

	// An idle pass changes nothing.
	before := b.count(t, `SELECT count(*) FROM calendar_events WHERE synced_at > now() - interval '1 hour'`)
	attBefore := b.count(t, `SELECT count(*) FROM calendar_event_attendees`)
	b.syncNow(t, time.Minute)
	after := b.count(t, `SELECT count(*) FROM calendar_events WHERE synced_at > now() - interval '1 hour'`)
	if before != after {
		t.Fatalf("idle pass rewrote rows: %d -> %d", before, after)
	}
	if n := b.count(t, `SELECT count(*) FROM calendar_event_attendees`); n != attBefore {
		t.Fatalf("idle pass changed attendees: %d -> %d", attBefore, n)
	}
	if n := b.count(t, `SELECT count(*) FROM quarantine`); n != 0 {
		t.Fatalf("%d records quarantined", n)
	}
}

func TestCalendarPartialUpdatesMergeIntoStoredRows(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{Users: 2, EventsPerUser: 60, PartialUpdates: true}, resources: []string{"calendar"}})
	b.syncNow(t, time.Minute)
	b.assertCalendarMatchesTruth(t)

	b.em.Mutate(300)
	b.syncNow(t, time.Minute)
	b.assertCalendarMatchesTruth(t)

	// Merged rows keep every property, not just the changed ones.
	if n := b.count(t, `SELECT count(*) FROM calendar_events WHERE deleted_at IS NULL AND NOT (raw ? 'type' AND raw ? 'start')`); n != 0 {
		t.Fatalf("%d live events lost their full object to a partial update", n)
	}
	if n := b.count(t, `SELECT count(*) FROM calendar_events WHERE deleted_at IS NULL AND type <> 'occurrence' AND organizer_address IS NULL`); n != 0 {
		t.Fatalf("%d live events lost their organizer to a partial update", n)
	}
	if n := b.count(t, `SELECT count(*) FROM quarantine`); n != 0 {
		t.Fatalf("%d records quarantined", n)
	}
}

func TestCalendarWindowRolls(t *testing.T) {
	t.Parallel()
	const day = 24 * time.Hour
	// The clock starts early in the current UTC day (the emulator's anchor),
	// so that the two hours added below stay within it.
	var now atomic.Int64
	now.Store(time.Now().UTC().Truncate(day).Add(time.Hour).UnixNano())
	b := setup(t, options{
		emu:       emulator.Config{Users: 2, EventsPerUser: 80},
		resources: []string{"calendar"},
		worker: func(c *worker.Config) {
			c.Engine.CalendarPast, c.Engine.CalendarFuture = 30*day, 30*day
			c.Engine.Now = func() time.Time { return time.Unix(0, now.Load()) }
		},
	})
	ctx := context.Background()
	b.syncNow(t, time.Minute)
	b.assertCalendarMatchesTruth(t)
	first := b.count(t, `SELECT count(*) FROM calendar_events WHERE deleted_at IS NULL`)

	// Within the roll period the window stays and nothing is rewritten.
	now.Add(int64(2 * time.Hour))
	before := b.count(t, `SELECT count(*) FROM calendar_events WHERE synced_at > now() - interval '1 hour'`)
	b.syncNow(t, time.Minute)
	if after := b.count(t, `SELECT count(*) FROM calendar_events WHERE synced_at > now() - interval '1 hour'`); after != before {
		t.Fatalf("a pass inside the roll period rewrote rows: %d -> %d", before, after)
	}

	// Forty-five days later the window has moved past a month of events
	// and over a month and a half of new ones.
	now.Add(int64(45 * day))
	b.syncNow(t, time.Minute)
	b.assertCalendarMatchesTruth(t)

	want := time.Unix(0, now.Load()).UTC().Truncate(day)
	for _, c := range b.conns {
		st, err := b.store.SyncState(ctx, graphsync.Stream{Connection: c.ID, User: c.UserID, Resource: graphsync.Calendar, Container: "events"})
		if err != nil {
			t.Fatal(err)
		}
		w := st.Window
		if !w.Start.Equal(want.Add(-30*day)) || !w.End.Equal(want.Add(30*day)) {
			t.Fatalf("connection %d window %s, want it around %s", c.ID, w, want)
		}
	}
	left := b.count(t, `SELECT count(*) FROM calendar_events WHERE removed_reason = 'left_window'`)
	if left == 0 {
		t.Fatal("no event marked as having left the window")
	}
	if n := b.count(t, `SELECT count(*) FROM calendar_events WHERE removed_reason = 'deleted'`); n != 0 {
		t.Fatalf("%d events marked deleted by a window roll; nothing was deleted", n)
	}
	if n := b.count(t, `SELECT count(*) FROM calendar_events WHERE removed_reason = 'left_window' AND end_at > $1`, want.Add(-30*day)); n != 0 {
		t.Fatalf("%d events marked left_window although they end inside the window", n)
	}
	// Events that left the window keep their attendees for history.
	if n := b.count(t, `SELECT count(*) FROM calendar_event_attendees a JOIN calendar_events e
		ON e.connection_id = a.connection_id AND e.id = a.event_id WHERE e.removed_reason = 'left_window'`); n == 0 {
		t.Fatal("events that left the window lost their attendees")
	}
	entered := b.count(t, `SELECT count(*) FROM calendar_events WHERE deleted_at IS NULL AND start_at >= $1`, want.Add(-45*day+30*day))
	if entered == 0 {
		t.Fatal("no event entered the window")
	}
	live := b.count(t, `SELECT count(*) FROM calendar_events WHERE deleted_at IS NULL`)
	t.Logf("window roll: %d live before, %d left the window, %d live after", first, left, live)

	// Moving back re-enters the events that left: the same rows come back
	// live, none duplicated.
	rows := b.count(t, `SELECT count(*) FROM calendar_events`)
	now.Add(-int64(45 * day))
	b.syncNow(t, time.Minute)
	b.assertCalendarMatchesTruth(t)
	if n := b.count(t, `SELECT count(*) FROM calendar_events WHERE deleted_at IS NULL`); n != first {
		t.Fatalf("%d live events after moving back, want the %d of the first window", n, first)
	}
	if n := b.count(t, `SELECT count(*) FROM calendar_events WHERE deleted_at IS NULL AND removed_reason IS NOT NULL`); n != 0 {
		t.Fatalf("%d live events keep a removed_reason", n)
	}
	if n := b.count(t, `SELECT count(*) FROM calendar_events`); n != rows {
		t.Fatalf("moving the window back added rows: %d -> %d", rows, n)
	}
}

func TestCalendarQuarantinesUndecodableEvent(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{Users: 1, EventsPerUser: 40}, resources: []string{"calendar"}})
	poison, err := b.em.AddPoisonEvent(b.conns[0].UserID, time.Now().Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	b.syncNow(t, time.Minute)
	// The rest of the page and of the sync went on.
	b.assertCalendarMatchesTruth(t)
	if n := b.count(t, `SELECT count(*) FROM quarantine WHERE resource = 'calendar' AND item_id = $1 AND error LIKE '%start%'`, poison); n != 1 {
		t.Fatalf("poison event quarantined %d times, want once with a reason naming its start", n)
	}
	if n := b.count(t, `SELECT count(*) FROM calendar_events WHERE id = $1`, poison); n != 0 {
		t.Fatal("poison event stored")
	}
	if n := b.count(t, `SELECT count(*) FROM sync_state WHERE resource = 'calendar' AND status <> 'ok'`); n != 0 {
		t.Fatalf("%d calendar streams not ok after a quarantined record", n)
	}

	b.em.Mutate(100)
	b.syncNow(t, time.Minute)
	b.assertCalendarMatchesTruth(t)
	if n := b.count(t, `SELECT count(*) FROM quarantine`); n != 1 {
		t.Fatalf("%d records quarantined, want only the poison event", n)
	}
}
