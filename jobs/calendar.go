package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

func init() { register("calendar", syncCalendar) }

// calendarStream names the checkpoint of a user's calendarView.
const calendarStream = "events"

// syncCalendar syncs the primary calendar through calendarView/delta over
// a window around the current day. The delta token is bound to the window
// it was issued for, so moving the window means a new full round over the
// new one; rows that round does not see are retired, as left_window when
// their time lies outside the new window.
func syncCalendar(ctx context.Context, r *run) error {
	st := r.stream(calendarStream)
	w, err := r.calendarWindow(ctx, st)
	if err != nil {
		return fmt.Errorf("sync calendar: %w", err)
	}
	if err := r.dropStaleStreams(ctx, []string{calendarStream}); err != nil {
		return err
	}
	return r.runDelta(ctx, deltaStream{
		stream:  st,
		initial: calendarViewPath(r.userPath(), w),
		service: graphsync.ServiceOutlook,
		apply: func(ctx context.Context, tx pgx.Tx, items []json.RawMessage, seen *time.Time) (store.Progress, error) {
			return r.applyEvents(ctx, tx, st, w, items, seen)
		},
		retire: func(ctx context.Context, tx pgx.Tx, since time.Time) (int64, error) {
			deleted, left, err := r.svc.store.RetireUnseenCalendarEventsTx(ctx, tx, r.conn.ID, r.userID, w, since)
			if err != nil {
				return 0, err
			}
			recordsWritten.WithLabelValues(r.resource, "deleted").Add(float64(deleted))
			recordsWritten.WithLabelValues(r.resource, "left_window").Add(float64(left))
			return deleted + left, nil
		},
	})
}

func calendarViewPath(userPath string, w store.Window) string {
	q := url.Values{}
	q.Set("startDateTime", w.Start.UTC().Format(time.RFC3339))
	q.Set("endDateTime", w.End.UTC().Format(time.RFC3339))
	return userPath + "/calendarView/delta?" + q.Encode()
}

// wantedWindow is the window for the current day: CalendarPast before the
// start of today (UTC) to CalendarFuture after it. Anchoring to the day
// keeps the window still between rolls.
func (s *Service) wantedWindow() store.Window {
	day := s.cfg.CalendarNow().UTC().Truncate(24 * time.Hour)
	return store.Window{Start: day.Add(-s.cfg.CalendarPast), End: day.Add(s.cfg.CalendarFuture)}
}

// calendarWindow returns the window this sync uses: the stored one, or the
// wanted one when none is stored or the stored one lags by CalendarRoll or
// more (or the configured bounds moved that far). A round in progress
// finishes on its own window first, so its pages are not wasted.
func (r *run) calendarWindow(ctx context.Context, st store.Stream) (store.Window, error) {
	state, err := r.state(ctx, st)
	if err != nil {
		return store.Window{}, err
	}
	cur := state.Window
	want := r.svc.wantedWindow()
	if !cur.IsZero() {
		roll := r.svc.cfg.CalendarRoll
		if state.NextLink != "" || (absDuration(want.Start.Sub(cur.Start)) < roll && absDuration(want.End.Sub(cur.End)) < roll) {
			return cur, nil
		}
		r.log.InfoContext(ctx, "calendar window moves; starting a full round", "stream", st.Name,
			"from", cur.String(), "to", want.String())
	}
	if err := r.svc.store.MoveWindowTx(ctx, r.svc.store.Pool(), st, want); err != nil {
		return store.Window{}, err
	}
	return want, nil
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func (r *run) applyEvents(ctx context.Context, tx pgx.Tx, st store.Stream, w store.Window, items []json.RawMessage, seen *time.Time) (store.Progress, error) {
	var p store.Progress
	entries, noID := foldPage(items)
	for _, raw := range noID {
		if err := r.quarantine(ctx, tx, st, "", noIDReason("event", raw), raw); err != nil {
			return p, err
		}
	}
	stored, err := r.storedPartialEvents(ctx, tx, entries)
	if err != nil {
		return p, err
	}
	rows, removed, err := pageRows(ctx, r, tx, st, entries, stored, func(raw []byte) (store.CalendarEvent, error) {
		return normalizeEvent(r.userID, raw)
	})
	if err != nil {
		return p, err
	}
	deleted, left, err := r.svc.store.RemoveCalendarEventsTx(ctx, tx, r.conn.ID, w, removed)
	if err != nil {
		return p, err
	}
	u, err := r.svc.store.UpsertCalendarEventsTx(ctx, tx, r.conn.ID, rows, seen)
	if err != nil {
		return p, err
	}
	p.Upserted, p.Deleted = int(u), int(deleted+left)
	recordsWritten.WithLabelValues(r.resource, "upserted").Add(float64(u))
	recordsWritten.WithLabelValues(r.resource, "deleted").Add(float64(deleted))
	recordsWritten.WithLabelValues(r.resource, "left_window").Add(float64(left))
	return p, nil
}

// storedPartialEvents reads the stored raw JSON of the page's partial
// updates. Every full event (occurrences included) carries a top-level
// "type"; a partial update names only what changed, and type never does.
// The key is looked up at the top level because attendees and recurrence
// have a "type" of their own.
func (r *run) storedPartialEvents(ctx context.Context, tx pgx.Tx, entries []entry) (map[string][]byte, error) {
	var partial []string
	for _, e := range entries {
		if e.removed {
			continue
		}
		var top map[string]json.RawMessage
		if json.Unmarshal(e.raw, &top) != nil {
			continue // not an object: decoding quarantines it
		}
		if _, full := top["type"]; !full {
			partial = append(partial, e.id)
		}
	}
	if len(partial) == 0 {
		return nil, nil
	}
	return r.svc.store.Raws(ctx, tx, "calendar_events", r.conn.ID, partial)
}

// normalizeEvent turns an event into its row. An event whose start or end
// cannot be read is refused: the window logic depends on them.
func normalizeEvent(userID string, raw []byte) (store.CalendarEvent, error) {
	ev, err := graphsync.DecodeEvent(raw)
	if err != nil {
		return store.CalendarEvent{}, err
	}
	// Booleans Graph left out (occurrences carry only id, type, times and
	// the series master) stay NULL rather than read as false.
	var present map[string]json.RawMessage
	if err := json.Unmarshal(raw, &present); err != nil {
		return store.CalendarEvent{}, fmt.Errorf("event %s: %w", ev.ID, err)
	}
	flag := func(key string, v bool) *bool {
		if _, ok := present[key]; !ok {
			return nil
		}
		return &v
	}
	row := store.CalendarEvent{
		ID: ev.ID, UserID: userID, Subject: ev.Subject, IsAllDay: flag("isAllDay", ev.IsAllDay), Type: ev.Type,
		SeriesMasterID: ev.SeriesMasterID, IsOrganizer: flag("isOrganizer", ev.IsOrganizer), ShowAs: ev.ShowAs,
		IsCancelled: flag("isCancelled", ev.IsCancelled), IsOnlineMeeting: flag("isOnlineMeeting", ev.IsOnlineMeeting),
		OnlineMeetingURL: ev.OnlineMeetingURL, Importance: ev.Importance, Sensitivity: ev.Sensitivity,
		Categories: ev.Categories, Recurrence: ev.Recurrence, ICalUID: ev.ICalUID,
		CreatedAt: ev.CreatedDateTime, LastModifiedAt: ev.LastModifiedDateTime, WebLink: ev.WebLink, Raw: raw,
	}
	if ev.Start != nil {
		if row.StartAt, err = ev.Start.Time(); err != nil {
			return store.CalendarEvent{}, fmt.Errorf("event %s start: %w", ev.ID, err)
		}
		row.StartLocal, row.StartTimeZone = ev.Start.DateTime, ev.Start.TimeZone
	}
	if ev.End != nil {
		if row.EndAt, err = ev.End.Time(); err != nil {
			return store.CalendarEvent{}, fmt.Errorf("event %s end: %w", ev.ID, err)
		}
		row.EndLocal, row.EndTimeZone = ev.End.DateTime, ev.End.TimeZone
	}
	if ev.Organizer != nil {
		row.OrganizerAddress = strings.ToLower(strings.TrimSpace(ev.Organizer.EmailAddress.Address))
		row.OrganizerName = ev.Organizer.EmailAddress.Name
	}
	if ev.Location != nil {
		row.Location = ev.Location.DisplayName
	}
	if ev.ResponseStatus != nil {
		row.Response = ev.ResponseStatus.Response
	}
	var online struct {
		OnlineMeeting *struct {
			JoinURL string `json:"joinUrl"`
		} `json:"onlineMeeting"`
	}
	if json.Unmarshal(raw, &online) == nil && online.OnlineMeeting != nil && online.OnlineMeeting.JoinURL != "" {
		row.OnlineMeetingURL = online.OnlineMeeting.JoinURL
	}
	for _, a := range ev.Attendees {
		att := store.CalendarAttendee{Address: strings.ToLower(strings.TrimSpace(a.EmailAddress.Address)),
			Name: a.EmailAddress.Name, Type: a.Type}
		if a.Status != nil {
			att.Response = a.Status.Response
			// Graph sends 0001-01-01 for "no answer yet".
			if a.Status.Time.Year() > 1 {
				att.ResponseAt = a.Status.Time
			}
		}
		row.Attendees = append(row.Attendees, att)
	}
	return row, nil
}
