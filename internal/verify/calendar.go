package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

// Calendar compares a connection's live calendar events of one user with
// the truth inside the window the calendar was last synced over: the same
// ids, subjects, start instants, cancelled flags and attendee counts (an
// occurrence's being its series master's), and nothing extra; every column
// of every row (see rowCheck); and the rows of the events in the window deleted
// since they were synced. Events whose start or end cannot be read are not
// expected: graphsync quarantines them.
func Calendar(ctx context.Context, pool *pgxpool.Pool, emulatorURL string, connectionID int64, userID string) ([]Result, error) {
	w, err := calendarWindow(ctx, pool, connectionID, userID)
	if err != nil {
		return nil, err
	}
	return CalendarInWindow(ctx, pool, emulatorURL, connectionID, userID, w)
}

// CalendarInWindow is Calendar over an explicit window.
func CalendarInWindow(ctx context.Context, pool *pgxpool.Pool, emulatorURL string, connectionID int64, userID string, w graphsync.Window) ([]Result, error) {
	truth, err := Truth(ctx, emulatorURL, userID, "events")
	if err != nil {
		return nil, err
	}
	type event struct {
		ID             string                      `json:"id"`
		SeriesMasterID string                      `json:"seriesMasterId"`
		Subject        string                      `json:"subject"`
		Start          *graphsync.DateTimeTimeZone `json:"start"`
		End            *graphsync.DateTimeTimeZone `json:"end"`
		IsCancelled    bool                        `json:"isCancelled"`
		Attendees      *[]json.RawMessage          `json:"attendees"`
	}
	events := make([]event, len(truth))
	attendees := map[string]int{}
	for i, raw := range truth {
		if err := json.Unmarshal(raw, &events[i]); err != nil {
			return nil, fmt.Errorf("decode ground truth of events: %w", err)
		}
		if a := events[i].Attendees; a != nil {
			attendees[events[i].ID] = len(*a)
		}
	}
	// Occurrences sent without attendees have their master's, when
	// graphsync has the master: calendarView/delta sends a series master
	// only while its window holds the master's own (first) occurrence.
	rs, err := pool.Query(ctx, `SELECT id FROM calendar_events WHERE connection_id = $1 AND user_id = $2
		AND type = 'seriesMaster' AND removed_reason IS DISTINCT FROM 'deleted'`, connectionID, userID)
	if err != nil {
		return nil, fmt.Errorf("read calendar_events: %w", err)
	}
	masters, err := pgx.CollectRows(rs, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("read calendar_events: %w", err)
	}
	stored := map[string]bool{}
	for _, id := range masters {
		stored[id] = true
	}
	want := map[string]string{}
	inWindow := func(start, end time.Time) bool { return start.Before(w.End) && end.After(w.Start) }
	for _, o := range events {
		n, own := attendees[o.ID]
		if !own && stored[o.SeriesMasterID] {
			n = attendees[o.SeriesMasterID]
		}
		if o.Start == nil || o.End == nil {
			return nil, fmt.Errorf("ground truth event %s has no start or end", o.ID)
		}
		// An event whose times cannot be read is quarantined, not stored.
		start, err := o.Start.Time()
		if err != nil {
			continue
		}
		end, err := o.End.Time()
		if err != nil {
			continue
		}
		// calendarView holds the events overlapping the window.
		if !inWindow(start, end) {
			continue
		}
		want[o.ID] = eventKey(store.CleanText(o.Subject), start, o.IsCancelled, n)
	}
	rows, err := pool.Query(ctx, `SELECT e.id, coalesce(e.subject, ''), e.start_at, coalesce(e.is_cancelled, false),
			(SELECT count(*) FROM calendar_event_attendees a WHERE a.connection_id = e.connection_id AND a.event_id = e.id)
		FROM calendar_events e WHERE e.connection_id = $1 AND e.user_id = $2 AND e.deleted_at IS NULL`, connectionID, userID)
	if err != nil {
		return nil, fmt.Errorf("read calendar_events: %w", err)
	}
	defer rows.Close()
	got := map[string]string{}
	for rows.Next() {
		var id, subject string
		var start *time.Time
		var cancelled bool
		var attendees int
		if err := rows.Scan(&id, &subject, &start, &cancelled, &attendees); err != nil {
			return nil, fmt.Errorf("read calendar_events: %w", err)
		}
		var s time.Time
		if start != nil {
			s = *start
		}
		got[id] = eventKey(subject, s, cancelled, attendees)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read calendar_events: %w", err)
	}
	r := compare("calendar_events", connectionID, want, got)
	keep := func(raw json.RawMessage) bool {
		var o event
		if json.Unmarshal(raw, &o) != nil || o.Start == nil || o.End == nil {
			return false
		}
		start, err1 := o.Start.Time()
		end, err2 := o.End.Time()
		return err1 == nil && err2 == nil && inWindow(start, end)
	}
	c := rowCheck{table: graphsync.Calendar.Items(), natural: []string{"subject", "start_at", "end_at"}}
	if err := r.deep(ctx, pool, emulatorURL, c, userID, "events", truth, want, keep); err != nil {
		return nil, err
	}
	return []Result{r.finish()}, nil
}

func eventKey(subject string, start time.Time, cancelled bool, attendees int) string {
	return fmt.Sprintf("%s|%s|%t|%d", subject, start.UTC().Format(time.RFC3339), cancelled, attendees)
}

// calendarWindow reads the window a user's calendar was last synced over
// from its checkpoint (named events, prefixed with the user for
// application connections).
func calendarWindow(ctx context.Context, pool *pgxpool.Pool, connectionID int64, userID string) (graphsync.Window, error) {
	var w graphsync.Window
	err := pool.QueryRow(ctx, `SELECT window_start, window_end FROM sync_state
		WHERE connection_id = $1 AND resource = 'calendar' AND stream IN ('events', $2 || '/events')
			AND window_start IS NOT NULL AND window_end IS NOT NULL
		ORDER BY stream DESC LIMIT 1`, connectionID, userID).Scan(&w.Start, &w.End)
	if errors.Is(err, pgx.ErrNoRows) {
		return w, fmt.Errorf("connection %d: no calendar window stored for user %s (calendar not synced yet)", connectionID, userID)
	}
	if err != nil {
		return w, fmt.Errorf("read calendar window: %w", err)
	}
	return w, nil
}
