// Package progress shows a sync's progress as it commits: records, pages
// and the rate per resource, redrawn in place on a terminal, plain lines
// every few seconds otherwise.
package progress

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/graphsync/graphsync/jobs"
	"github.com/graphsync/graphsync/store"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Watch shows per-resource progress (records, pages, rate) until no sync
// job is left, and fails when some failed for good.
func Watch(ctx context.Context, st *store.Store, client *river.Client[store.Tx], w io.Writer, term bool) error {
	base, _, err := readProgress(ctx, st, client)
	if err != nil {
		return err
	}
	v := &progressView{w: w, term: term, start: time.Now(), base: base}
	every := 5 * time.Second
	if term {
		every = 300 * time.Millisecond
	}
	var lastPrint time.Time
	for {
		per, total, err := readProgress(ctx, st, client)
		if err != nil {
			return err
		}
		done := total.active == 0
		if done || time.Since(lastPrint) >= every {
			v.render(time.Now(), per, total.active)
			lastPrint = time.Now()
		}
		if done {
			if total.failed > 0 {
				return fmt.Errorf("%d sync jobs failed for good; see `graphsync status`", total.failed)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// progressView renders progress counters, one line per resource.
type progressView struct {
	w     io.Writer
	term  bool
	start time.Time
	base  map[string]progress // counters when watching began

	drawn    int // lines drawn by the last render, redrawn over on a terminal
	lastAt   time.Time
	lastRecs map[string]int64
}

// render writes the counters in per as of now. The rate is records written
// per second since the previous render.
func (v *progressView) render(now time.Time, per map[string]progress, active int) {
	resources := slices.Sorted(maps.Keys(per))
	var lines []string
	recs := map[string]int64{}
	for _, r := range resources {
		p, b := per[r], v.base[r]
		n := p.upserted - b.upserted
		recs[r] = n
		rate := 0.0
		if !v.lastAt.IsZero() && now.After(v.lastAt) {
			rate = float64(n-v.lastRecs[r]) / now.Sub(v.lastAt).Seconds()
		} else if now.After(v.start) {
			rate = float64(n) / now.Sub(v.start).Seconds()
		}
		lines = append(lines, fmt.Sprintf("%-10s %9d records %7d deleted %6d pages %8.0f rec/s",
			r, n, p.deleted-b.deleted, p.pages-b.pages, rate))
	}
	v.lastAt, v.lastRecs = now, recs
	status := fmt.Sprintf("%.1fs, %d sync jobs active", now.Sub(v.start).Seconds(), active)
	if active == 0 {
		status = fmt.Sprintf("%.1fs, done", now.Sub(v.start).Seconds())
	}
	if !v.term {
		for _, l := range lines {
			fmt.Fprintf(v.w, "      %s\n", l)
		}
		fmt.Fprintf(v.w, "      %s\n", status)
		return
	}
	// Move up over the previous render and overwrite it line by line.
	if v.drawn > 0 {
		fmt.Fprintf(v.w, "\033[%dA", v.drawn)
	}
	for _, l := range append(lines, status) {
		fmt.Fprintf(v.w, "\r\033[K      %s\n", l)
	}
	v.drawn = len(lines) + 1
}

// progress is what has been written so far, and how many sync jobs are
// active or failed for good.
type progress struct {
	pages, upserted, deleted int64
	active, failed           int
}

// readProgress reads the counters per resource from the store and the sync
// jobs' states from River.
func readProgress(ctx context.Context, st *store.Store, client *river.Client[store.Tx]) (map[string]progress, progress, error) {
	var total progress
	written, err := st.WrittenByResource(ctx, 0)
	if err != nil {
		return nil, total, err
	}
	per := make(map[string]progress, len(written))
	for r, w := range written {
		per[r] = progress{pages: w.Pages, upserted: w.Upserted, deleted: w.Deleted}
	}
	if total.active, err = countSyncJobs(ctx, client, rivertype.JobStateAvailable, rivertype.JobStateRunning,
		rivertype.JobStateRetryable, rivertype.JobStateScheduled, rivertype.JobStatePending); err != nil {
		return nil, total, err
	}
	if total.failed, err = countSyncJobs(ctx, client, rivertype.JobStateDiscarded); err != nil {
		return nil, total, err
	}
	return per, total, nil
}

// countSyncJobs counts sync jobs in the given states, up to River's
// listing limit.
func countSyncJobs(ctx context.Context, client *river.Client[store.Tx], states ...rivertype.JobState) (int, error) {
	res, err := client.JobList(ctx, river.NewJobListParams().Kinds(jobs.SyncArgs{}.Kind()).States(states...).First(10_000))
	if err != nil {
		return 0, fmt.Errorf("list sync jobs: %w", err)
	}
	return len(res.Jobs), nil
}

// IsTerminal reports whether w is a terminal, where progress is redrawn in
// place.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
