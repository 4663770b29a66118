package store_test

import (
	"strings"
	"testing"
	"time"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/pgtest"
	"github.com/graphsync/graphsync/store"
)

// The calendar window of the tests (2025), and times in and before it.
var (
	window       = graphsync.Window{Start: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	inWindow     = time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)
	beforeWindow = time.Date(2024, 6, 1, 10, 0, 0, 0, time.UTC)
)

// event is an hour-long meeting of user u1 as calendarView/delta sends it
// (in UTC, as graphsync asks for), with its attendees.
func event(t testing.TB, id string, start time.Time, attendees ...string) graphsync.Row {
	return item(t, graphsync.Calendar.Items(), graphsync.MapContext{User: "u1"}, eventJSON(id, start, attendees...))
}

func eventJSON(id string, start time.Time, attendees ...string) map[string]any {
	as := []any{}
	for _, a := range attendees {
		as = append(as, map[string]any{"type": "required",
			"emailAddress": map[string]any{"name": a, "address": strings.ToUpper(a) + "@Contoso.test"},
			"status":       map[string]any{"response": "accepted", "time": "0001-01-01T00:00:00Z"}})
	}
	at := func(t time.Time) map[string]any {
		return map[string]any{"dateTime": t.Format("2006-01-02T15:04:05.0000000"), "timeZone": "UTC"}
	}
	return map[string]any{"id": id, "type": "singleInstance", "subject": "Meeting " + id,
		"start": at(start), "end": at(start.Add(time.Hour)), "attendees": as}
}

// eventState says how an event is stored: its removed_reason (live when
// none), whether it is retired, and how many attendees it keeps.
func eventState(t testing.TB, s *store.Store, c *store.Connection, id string) string {
	t.Helper()
	return text(t, s, `SELECT coalesce(removed_reason, 'live') || '/' || (deleted_at IS NOT NULL)::text || '/' ||
		(SELECT count(*) FROM calendar_event_attendees a WHERE a.connection_id = e.connection_id AND a.event_id = e.id)
		FROM calendar_events e WHERE connection_id = $1 AND id = $2`, c.ID, id)
}

// An event Graph reports removed, or a full round does not see, was
// deleted when it lies inside the stream's window, and only left the
// window otherwise: it then keeps its last known state and attendees.
func TestCalendarWindow(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	c := newConnection(t, s, "u1", store.Tokens{AccessToken: "a", RefreshToken: "r"})
	events := graphsync.Calendar.Items()
	st := stream(c, graphsync.Calendar, "u1", "events")
	upsert(t, s, events, c.ID, []graphsync.Row{event(t, "in", inWindow, "ann"), event(t, "out", beforeWindow, "ann", "bob")}, nil)

	if r := remove(t, s, events, st, window, "in", "out"); r != (store.Removed{Deleted: 1, Left: 1}) {
		t.Fatalf("removal: %+v, want 1 deleted and 1 left", r)
	}
	for id, want := range map[string]string{"in": "deleted/true/0", "out": "left_window/true/2"} {
		if got := eventState(t, s, c, id); got != want {
			t.Errorf("event %s after removal: %s, want %s", id, got, want)
		}
	}

	// Listed again (the window came back over it), it is live again.
	if n := upsert(t, s, events, c.ID, []graphsync.Row{event(t, "out", beforeWindow, "ann", "bob")}, nil); n != 1 {
		t.Fatalf("relisted event: upsert changed %d rows, want 1", n)
	}
	if got := eventState(t, s, c, "out"); got != "live/false/2" {
		t.Fatalf("relisted event: %s, want live/false/2", got)
	}

	// A full round retires by the same rule what it did not see.
	upsert(t, s, events, c.ID, []graphsync.Row{event(t, "gone", inWindow, "carol")}, nil)
	since := time.Now()
	upsert(t, s, events, c.ID, []graphsync.Row{event(t, "seen", inWindow, "dan")}, &since)
	if r := retireUnseen(t, s, events, st, since, window); r != (store.Removed{Deleted: 1, Left: 1}) {
		t.Fatalf("full round: %+v, want 1 deleted and 1 left", r)
	}
	for id, want := range map[string]string{"gone": "deleted/true/0", "out": "left_window/true/2", "seen": "live/false/1"} {
		if got := eventState(t, s, c, id); got != want {
			t.Errorf("event %s after a full round: %s, want %s", id, got, want)
		}
	}
}

// An occurrence, which calendarView/delta sends without attendees, has its
// series master's, and follows them when they change.
func TestOccurrencesInheritAttendees(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	c := newConnection(t, s, "u1", store.Tokens{AccessToken: "a", RefreshToken: "r"})
	events := graphsync.Calendar.Items()
	master := func(attendees ...string) graphsync.Row {
		m := eventJSON("m", inWindow, attendees...)
		m["type"] = "seriesMaster"
		return item(t, events, graphsync.MapContext{User: "u1"}, m)
	}
	occurrence := eventJSON("o1", inWindow.Add(7*24*time.Hour))
	occurrence["type"], occurrence["seriesMasterId"] = "occurrence", "m"
	delete(occurrence, "attendees")
	attendees := func(id string) string {
		return text(t, s, `SELECT coalesce(string_agg(address, ',' ORDER BY ordinal), '') FROM calendar_event_attendees
			WHERE connection_id = $1 AND event_id = $2`, c.ID, id)
	}

	upsert(t, s, events, c.ID, []graphsync.Row{master("ann", "bob"), item(t, events, graphsync.MapContext{User: "u1"}, occurrence)}, nil)
	if got := attendees("o1"); got != "ann@contoso.test,bob@contoso.test" {
		t.Fatalf("occurrence attendees %q, want its master's", got)
	}
	upsert(t, s, events, c.ID, []graphsync.Row{master("ann")}, nil)
	if got := attendees("o1"); got != "ann@contoso.test" {
		t.Fatalf("occurrence attendees %q after the master's changed, want ann's alone", got)
	}
}
