package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// CalendarEvent is a row of calendar_events with its attendees.
type CalendarEvent struct {
	ID               string
	UserID           string
	Subject          string
	StartLocal       string
	StartTimeZone    string
	StartAt          time.Time
	EndLocal         string
	EndTimeZone      string
	EndAt            time.Time
	IsAllDay         *bool
	Type             string
	SeriesMasterID   string
	OrganizerAddress string
	OrganizerName    string
	IsOrganizer      *bool
	Location         string
	ShowAs           string
	IsCancelled      *bool
	IsOnlineMeeting  *bool
	OnlineMeetingURL string
	Response         string
	Importance       string
	Sensitivity      string
	Categories       []string
	Recurrence       []byte // JSON; nil when the event has none
	ICalUID          string
	CreatedAt        time.Time
	LastModifiedAt   time.Time
	WebLink          string
	Raw              []byte
	Attendees        []CalendarAttendee
}

// CalendarAttendee is a row of calendar_event_attendees.
type CalendarAttendee struct {
	Address    string
	Name       string
	Type       string
	Response   string
	ResponseAt time.Time
}

// Window is a time range [Start, End) a windowed stream (calendarView)
// syncs; its delta token is valid for that range only.
type Window struct {
	Start, End time.Time
}

// IsZero reports whether no window is set.
func (w Window) IsZero() bool { return w.Start.IsZero() && w.End.IsZero() }

func (w Window) String() string {
	return w.Start.UTC().Format(time.RFC3339) + "/" + w.End.UTC().Format(time.RFC3339)
}

var calendarEventsTable = syncedTable("calendar_events",
	"connection_id", "id", "user_id", "subject", "start_local", "start_time_zone", "start_at",
	"end_local", "end_time_zone", "end_at", "is_all_day", "type", "series_master_id",
	"organizer_address", "organizer_name", "is_organizer", "location", "show_as", "is_cancelled",
	"is_online_meeting", "online_meeting_url", "response", "importance", "sensitivity", "categories",
	"recurrence", "ical_uid", "created_at", "last_modified_at", "web_link", "raw", "removed_reason", "seen_at")

// UpsertCalendarEventsTx writes events and, for those whose row changed,
// replaces their attendees; seenAt, when set, marks them seen by a full
// enumeration. It returns how many event rows changed.
func (s *Store) UpsertCalendarEventsTx(ctx context.Context, tx pgx.Tx, connectionID int64, es []CalendarEvent, seenAt *time.Time) (int64, error) {
	if len(es) == 0 {
		return 0, nil
	}
	rows := make([][]any, len(es))
	byID := make(map[string]*CalendarEvent, len(es))
	for i := range es {
		e := &es[i]
		id := CleanText(e.ID)
		byID[id] = e // a later entry for the same id supersedes, as upsertTx keeps the last
		var recurrence []byte
		if len(e.Recurrence) > 0 && string(e.Recurrence) != "null" {
			recurrence = CleanJSON(e.Recurrence)
		}
		rows[i] = []any{connectionID, id, CleanText(e.UserID), textOrNil(e.Subject),
			textOrNil(e.StartLocal), textOrNil(e.StartTimeZone), timeOrNil(e.StartAt),
			textOrNil(e.EndLocal), textOrNil(e.EndTimeZone), timeOrNil(e.EndAt),
			e.IsAllDay, textOrNil(e.Type), textOrNil(e.SeriesMasterID),
			textOrNil(e.OrganizerAddress), textOrNil(e.OrganizerName), e.IsOrganizer, textOrNil(e.Location),
			textOrNil(e.ShowAs), e.IsCancelled, e.IsOnlineMeeting, textOrNil(e.OnlineMeetingURL),
			textOrNil(e.Response), textOrNil(e.Importance), textOrNil(e.Sensitivity), cleanAll(e.Categories),
			recurrence, textOrNil(e.ICalUID), timeOrNil(e.CreatedAt), timeOrNil(e.LastModifiedAt),
			textOrNil(e.WebLink), CleanJSON(e.Raw), nil, seenAt}
	}
	n, err := upsertTx(ctx, tx, calendarEventsTable, rows)
	if err != nil || n == 0 {
		return n, err
	}
	// Rows the upsert changed carry this transaction's now() as synced_at;
	// only their attendees are replaced, so unchanged events cost nothing.
	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	rs, err := tx.Query(ctx, `SELECT id FROM calendar_events WHERE connection_id = $1 AND id = ANY($2) AND synced_at = now()`,
		connectionID, ids)
	if err != nil {
		return 0, fmt.Errorf("upsert calendar attendees: %w", err)
	}
	changed, err := pgx.CollectRows(rs, pgx.RowTo[string])
	if err != nil {
		return 0, fmt.Errorf("upsert calendar attendees: %w", err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM calendar_event_attendees WHERE connection_id = $1 AND event_id = ANY($2)`,
		connectionID, changed); err != nil {
		return 0, fmt.Errorf("replace calendar attendees: %w", err)
	}
	var att [][]any
	for _, id := range changed {
		for i, a := range byID[id].Attendees {
			att = append(att, []any{connectionID, id, int32(i), textOrNil(a.Address), textOrNil(a.Name),
				textOrNil(a.Type), textOrNil(a.Response), timeOrNil(a.ResponseAt)})
		}
	}
	if len(att) > 0 {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"calendar_event_attendees"},
			[]string{"connection_id", "event_id", "ordinal", "address", "name", "type", "response", "response_at"},
			pgx.CopyFromRows(att)); err != nil {
			return 0, fmt.Errorf("replace calendar attendees: %w", err)
		}
	}
	if err := inheritAttendeesTx(ctx, tx, connectionID, changed); err != nil {
		return 0, err
	}
	return n, nil
}

// inheritAttendeesTx gives occurrences their series master's attendees:
// calendarView/delta sends an occurrence as little more than its id and
// times, and meeting-load analytics count occurrences one by one. It covers
// the changed occurrences and the occurrences of the changed masters.
func inheritAttendeesTx(ctx context.Context, tx pgx.Tx, connectionID int64, changed []string) error {
	const occurrences = `SELECT o.id, o.series_master_id FROM calendar_events o
		WHERE o.connection_id = $1 AND o.series_master_id IS NOT NULL AND NOT o.raw ? 'attendees'
			AND (o.id = ANY($2) OR o.series_master_id = ANY($2))`
	if _, err := tx.Exec(ctx, `DELETE FROM calendar_event_attendees a USING (`+occurrences+`) occ
		WHERE a.connection_id = $1 AND a.event_id = occ.id`, connectionID, changed); err != nil {
		return fmt.Errorf("inherit series attendees: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO calendar_event_attendees (connection_id, event_id, ordinal, address, name, type, response, response_at)
		SELECT $1, occ.id, a.ordinal, a.address, a.name, a.type, a.response, a.response_at
		FROM (`+occurrences+`) occ JOIN calendar_event_attendees a ON a.connection_id = $1 AND a.event_id = occ.series_master_id`,
		connectionID, changed); err != nil {
		return fmt.Errorf("inherit series attendees: %w", err)
	}
	return nil
}

// retireCalendarEvents marks the selected live events as no longer in view:
// left_window when their stored time lies outside w, deleted otherwise (the
// attendees of deleted events go with them). where selects rows by further
// arguments, numbered from $4.
const retireCalendarEvents = `WITH gone AS (
	UPDATE calendar_events SET deleted_at = now(), synced_at = now(),
		removed_reason = CASE WHEN start_at >= $3 OR end_at <= $2 THEN 'left_window' ELSE 'deleted' END
	WHERE connection_id = $1 AND deleted_at IS NULL AND %s
	RETURNING id, removed_reason
), attendees AS (
	DELETE FROM calendar_event_attendees a USING gone
	WHERE a.connection_id = $1 AND a.event_id = gone.id AND gone.removed_reason = 'deleted'
)
SELECT count(*) FILTER (WHERE removed_reason = 'deleted'), count(*) FILTER (WHERE removed_reason = 'left_window') FROM gone`

// RemoveCalendarEventsTx handles events Graph reported @removed in window
// w. calendarView/delta reports both deleted events and events that left
// the window that way; the stored start and end tell them apart.
func (s *Store) RemoveCalendarEventsTx(ctx context.Context, tx pgx.Tx, connectionID int64, w Window, ids []string) (deleted, left int64, err error) {
	if len(ids) == 0 {
		return 0, 0, nil
	}
	err = tx.QueryRow(ctx, fmt.Sprintf(retireCalendarEvents, "id = ANY($4)"), connectionID, w.Start, w.End, cleanAll(ids)).Scan(&deleted, &left)
	if err != nil {
		return 0, 0, fmt.Errorf("remove calendar events: %w", err)
	}
	return deleted, left, nil
}

// RetireUnseenCalendarEventsTx retires the events of a user that a full
// round over window w, begun at since, did not see: those outside w left
// the window, the others were deleted.
func (s *Store) RetireUnseenCalendarEventsTx(ctx context.Context, tx pgx.Tx, connectionID int64, userID string, w Window, since time.Time) (deleted, left int64, err error) {
	err = tx.QueryRow(ctx, fmt.Sprintf(retireCalendarEvents, "user_id = $4 AND (seen_at IS NULL OR seen_at < $5)"),
		connectionID, w.Start, w.End, CleanText(userID), since).Scan(&deleted, &left)
	if err != nil {
		return 0, 0, fmt.Errorf("retire unseen calendar events: %w", err)
	}
	return deleted, left, nil
}

// MoveWindowTx sets a stream's window and drops its delta and next links:
// a token is bound to the window it was issued for, so the next round is a
// full one over the new window.
func (s *Store) MoveWindowTx(ctx context.Context, q Querier, st Stream, w Window) error {
	_, err := q.Exec(ctx, `INSERT INTO sync_state (connection_id, resource, stream, window_start, window_end)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (connection_id, resource, stream) DO UPDATE SET window_start = $4, window_end = $5,
			delta_link = NULL, next_link = NULL, round_started_at = NULL, full_round = false`,
		st.ConnectionID, st.Resource, st.Name, w.Start, w.End)
	if err != nil {
		return fmt.Errorf("move window of %s: %w", st, err)
	}
	return nil
}
