package syncer

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/graphsync/graphsync/graphsync"
)

// eventsContainer names the stream of a user's calendarView.
const eventsContainer = "events"

// syncCalendar syncs a WindowedDelta (the primary calendar through
// calendarView/delta) over a window around the current day. The delta
// token is bound to the window it was issued for, so moving the window
// means a new full round over the new one; rows that round does not see are
// retired, as left_window when their time lies outside the new window.
func (r *run) syncCalendar(ctx context.Context) error {
	st := r.stream(eventsContainer)
	w, err := r.calendarWindow(ctx, st)
	if err != nil {
		return fmt.Errorf("sync calendar: %w", err)
	}
	if err := r.dropStaleStreams(ctx, []string{eventsContainer}); err != nil {
		return err
	}
	t := r.resource.Items()
	return r.runDelta(ctx, r.tableStream(t, st, windowPath(t.Path(r.userPath(), ""), w), w))
}

// windowPath adds a window to a calendarView path.
func windowPath(path string, w graphsync.Window) string {
	q := url.Values{}
	q.Set("startDateTime", w.Start.UTC().Format(time.RFC3339))
	q.Set("endDateTime", w.End.UTC().Format(time.RFC3339))
	return path + "?" + q.Encode()
}

// wantedWindow is the window for the current day: CalendarPast before the
// start of today (UTC) to CalendarFuture after it. Anchoring to the day
// keeps the window still between rolls.
func (e *Engine) wantedWindow() graphsync.Window {
	day := e.cfg.Now().UTC().Truncate(24 * time.Hour)
	return graphsync.Window{Start: day.Add(-e.cfg.CalendarPast), End: day.Add(e.cfg.CalendarFuture)}
}

// calendarWindow returns the window this sync uses: the stored one, or the
// wanted one when none is stored or the stored one lags by CalendarRoll or
// more (or the configured bounds moved that far). A round in progress
// finishes on its own window first, so its pages are not wasted.
func (r *run) calendarWindow(ctx context.Context, st graphsync.Stream) (graphsync.Window, error) {
	state, err := r.state(ctx, st)
	if err != nil {
		return graphsync.Window{}, err
	}
	cur := state.Window
	want := r.eng.wantedWindow()
	if !cur.IsZero() {
		roll := r.eng.cfg.CalendarRoll
		if state.NextLink != "" || (absDuration(want.Start.Sub(cur.Start)) < roll && absDuration(want.End.Sub(cur.End)) < roll) {
			return cur, nil
		}
		r.log.InfoContext(ctx, "calendar window moves; starting a full round", "stream", st.Container,
			"from", cur.String(), "to", want.String())
	}
	if err := r.eng.store.MoveWindow(ctx, st, want); err != nil {
		return graphsync.Window{}, err
	}
	return want, nil
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
