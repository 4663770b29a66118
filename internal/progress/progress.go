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
	"strings"
	"time"

	"github.com/graphsync/graphsync/jobs"
	"github.com/graphsync/graphsync/store"
)

// outageBudget is how long Watch keeps retrying while the database does
// not answer: a restart or a failover, not a reason to give up on a sync.
const outageBudget = 2 * time.Minute

// Watch shows per-resource progress (records, pages, rate; the pass's
// connection's only when it syncs one) until every mailbox of the pass has
// synced, and fails when a job failed for good or a resource failed in
// this pass (an error, a missing permission), naming each. A database that
// stops answering is retried for up to two minutes.
func Watch(ctx context.Context, st *store.Store, pass *jobs.Pass, w io.Writer, term bool) error {
	var base map[string]progress
	v := &progressView{w: w, term: term, start: time.Now()}
	every := 5 * time.Second
	if term {
		every = 300 * time.Millisecond
	}
	var lastPrint, downSince time.Time
	for {
		per, status, err := readProgress(ctx, st, pass)
		if err != nil && ctx.Err() == nil {
			if downSince.IsZero() {
				downSince = time.Now()
				fmt.Fprintf(w, "      the database does not answer; retrying for up to %s: %v\n", outageBudget, err)
			}
			if time.Since(downSince) > outageBudget {
				return fmt.Errorf("the database did not answer for %s: %w", outageBudget, err)
			}
		} else if err != nil {
			return err
		} else {
			if !downSince.IsZero() {
				fmt.Fprintf(w, "      the database answers again after %s\n", time.Since(downSince).Round(time.Second))
				downSince = time.Time{}
			}
			if base == nil {
				base = per
				v.base = per
			}
			done := status.Done()
			if done || time.Since(lastPrint) >= every {
				v.render(time.Now(), per, status)
				lastPrint = time.Now()
			}
			if done {
				return report(ctx, st, pass, w, status)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// report names what failed in the pass: jobs that failed for good, and the
// requested resources whose last error came during the pass.
func report(ctx context.Context, st *store.Store, pass *jobs.Pass, w io.Writer, status jobs.PassStatus) error {
	failed := slices.Clone(status.Failed)
	states, err := st.SyncStates(ctx, pass.ConnectionID)
	if err != nil {
		return err
	}
	for _, s := range states {
		if s.Container != "" || s.Status == store.StreamOK || s.Status == store.StreamStopped ||
			s.LastErrorAt == nil || s.LastErrorAt.Before(pass.Started) {
			continue
		}
		what := s.Status
		if s.MissingScope != "" {
			what += " (needs " + s.MissingScope + ")"
		}
		who := fmt.Sprintf("connection %d", s.Connection)
		if s.User != "" && !s.Resource.TenantLevel() {
			who += " user " + s.User
		}
		failed = append(failed, fmt.Sprintf("%s %s: %s: %s", who, s.Resource.Name(), what, oneLine(s.LastError)))
	}
	if len(failed) == 0 {
		return nil
	}
	for _, f := range failed {
		fmt.Fprintf(w, "      FAILED %s\n", f)
	}
	return fmt.Errorf("%d sync(s) failed; see `graphsync status`", len(failed))
}

// oneLine keeps an error on one line and at most 200 runes.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 200 {
		return string(r[:199]) + "…"
	}
	return s
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

// render writes the counters in per as of now: a line with the time and
// the mailboxes left heads the block, then one line per resource that has
// written something since watching began. The rate is records written per
// second since the previous render.
func (v *progressView) render(now time.Time, per map[string]progress, status jobs.PassStatus) {
	resources := slices.Sorted(maps.Keys(per))
	var lines []string
	recs := map[string]int64{}
	for _, r := range resources {
		p, b := per[r], v.base[r]
		n, deleted, pages := p.upserted-b.upserted, p.deleted-b.deleted, p.pages-b.pages
		recs[r] = n
		if n == 0 && deleted == 0 && pages == 0 {
			continue
		}
		rate := 0.0
		if !v.lastAt.IsZero() && now.After(v.lastAt) {
			rate = float64(n-v.lastRecs[r]) / now.Sub(v.lastAt).Seconds()
		} else if now.After(v.start) {
			rate = float64(n) / now.Sub(v.start).Seconds()
		}
		lines = append(lines, fmt.Sprintf("  %-10s %9d records %7d deleted %6d pages %8.0f rec/s", r, n, deleted, pages, rate))
	}
	v.lastAt, v.lastRecs = now, recs
	elapsed := now.Sub(v.start).Seconds()
	head := fmt.Sprintf("%.1fs, done", elapsed)
	if !status.Done() {
		head = fmt.Sprintf("%.1fs, %d of %d mailboxes syncing", elapsed, status.Active, status.Mailboxes)
		if status.Retrying > 0 {
			head += fmt.Sprintf(" (%d waiting to retry a failure)", status.Retrying)
		}
	}
	lines = append([]string{head}, lines...)
	if !v.term {
		for _, l := range lines {
			fmt.Fprintf(v.w, "      %s\n", l)
		}
		return
	}
	// Move up over the previous render and overwrite it line by line.
	if v.drawn > 0 {
		fmt.Fprintf(v.w, "\033[%dA", v.drawn)
	}
	for _, l := range lines {
		fmt.Fprintf(v.w, "\r\033[K      %s\n", l)
	}
	// A shorter render leaves the previous one's last lines: clear them.
	for i := len(lines); i < v.drawn; i++ {
		fmt.Fprint(v.w, "\r\033[K\n")
	}
	v.drawn = max(v.drawn, len(lines))
}

// progress is what has been written so far for one resource.
type progress struct {
	pages, upserted, deleted int64
}

// readProgress reads the counters per resource from the store (the pass's
// connection's, or every connection's) and advances the pass.
func readProgress(ctx context.Context, st *store.Store, pass *jobs.Pass) (map[string]progress, jobs.PassStatus, error) {
	written, err := st.WrittenByResource(ctx, pass.ConnectionID)
	if err != nil {
		return nil, jobs.PassStatus{}, err
	}
	per := make(map[string]progress, len(written))
	for r, w := range written {
		per[r] = progress{pages: w.Pages, upserted: w.Upserted, deleted: w.Deleted}
	}
	status, err := pass.Poll(ctx)
	if err != nil {
		return nil, status, err
	}
	return per, status, nil
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
