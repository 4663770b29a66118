package chaos

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/verify"
)

// Report is what a run saw. Violations name every broken rule; a run
// passes when there are none.
type Report struct {
	Options          Options
	Dir              string
	Kills            int
	PostgresRestarts int
	JobsRescued      int64
	// KillsLeftToRiver are the kills whose running jobs River's rescuer
	// handed on (JobsLeftToRiver of them, JobsRescuedByRiver seen rescued).
	KillsLeftToRiver, JobsLeftToRiver, JobsRescuedByRiver int
	// JobsRetryable were waiting out River's retry backoff when the chaos
	// ended; JobsDiscarded had used up their attempts.
	JobsRetryable, JobsDiscarded int
	// JobErrors is the number of failed job attempts River recorded.
	JobErrors    int
	WorkerErrors int
	CleanSync    time.Duration

	// Checked counts objects compared with the ground truth; RowsLost
	// those missing from the tables (or deleted outright instead of marked
	// deleted), RowsWrong those stored differently (any column, any field
	// of raw) or stored but gone from Microsoft 365; Duplicates items live
	// more than once.
	Checked, RowsLost, RowsWrong int
	Duplicates                   int
	Quarantined                  map[string]int64 // "resource: reason" → records

	GraphRequests  int64
	Faults         map[string]int64
	PagesServed    int64
	PagesRefetched int64
	MaxFetches     int
	// RefetchBound is the most refetched pages the interruptions explain.
	RefetchBound int64

	Refreshes       map[string]int // per connection (user principal name)
	RefreshWindows  int            // refresh windows the chaos phase spans
	DoubleRefreshes int
	RefreshReuse    int64

	PeakPerMailbox map[string]int // Outlook requests in flight, per user
	Throttled      int64
	EarlySent      int64
	Elapsed        time.Duration

	Violations []string

	chaosStart, chaosEnd time.Time
}

func (r *Report) violate(format string, a ...any) {
	r.Violations = append(r.Violations, fmt.Sprintf(format, a...))
}

// check compares the database with the ground truth and the emulator's
// counters with the rules.
func (h *harness) check(ctx context.Context) error {
	r := h.rep
	pool := h.db
	r.Quarantined = map[string]int64{}
	for _, conn := range h.conns {
		for _, res := range resources {
			results, err := verify.Resource(ctx, pool, h.em.URL(), conn.ID, conn.UserID, res.Name())
			if err != nil {
				r.violate("compare %s of %s: %v", res, conn.UserPrincipalName, err)
				continue
			}
			for _, x := range results {
				r.Checked += x.Truth
				r.RowsLost += x.Missing + x.HardDeleted
				r.RowsWrong += x.Wrong + x.Extra
				r.Duplicates += x.Duplicates
				if len(x.Diffs) > 0 {
					r.violate("%s of %s differs from the ground truth (%d rows, %d in Microsoft 365): %s",
						x.Table, conn.UserPrincipalName, x.Rows, x.Truth, strings.Join(x.Diffs, "; "))
				}
			}
		}
	}

	// The jobs of workers killed without the harness handing them back:
	// River's rescuer must have, and they must have run again.
	h.mu.Lock()
	left := slices.Clone(h.leftToRiver)
	h.mu.Unlock()
	r.JobsLeftToRiver = len(left)
	for _, id := range left {
		j, err := h.river.JobGet(ctx, id)
		if err != nil {
			return fmt.Errorf("read job %d left to River's rescuer: %w", id, err)
		}
		rescued := slices.ContainsFunc(j.Errors, func(e rivertype.AttemptError) bool { return strings.Contains(e.Error, "rescued") })
		switch {
		case rescued && j.State != rivertype.JobStateRunning:
			r.JobsRescuedByRiver++
		case j.State == rivertype.JobStateRunning:
			r.violate("sync job %d of a killed worker is still running at the end: River's rescuer never handed it on", id)
		default:
			r.violate("sync job %d of a killed worker ended %s without River's rescuer handing it on", id, j.State)
		}
	}
	if r.KillsLeftToRiver < h.o.RiverRescues {
		r.violate("only %d of %d kills were left to River's rescuer", r.KillsLeftToRiver, h.o.RiverRescues)
	}
	if r.KillsLeftToRiver > 0 && r.JobsLeftToRiver == 0 {
		r.violate("no running sync job was left to River's rescuer: its phase proved nothing")
	}

	rows, err := pool.Query(ctx, `SELECT resource || ': ' || left(error, 120), count(*) FROM quarantine GROUP BY 1 ORDER BY 1`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var k string
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			rows.Close()
			return err
		}
		r.Quarantined[k] = n
	}
	rows.Close()

	if err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE state = 'discarded'), coalesce(sum(coalesce(array_length(errors, 1), 0)), 0)
		FROM river_job WHERE kind = 'graphsync_sync'`).Scan(&r.JobsDiscarded, &r.JobErrors); err != nil {
		return err
	}

	c := h.em.Counters()
	for _, byStatus := range c.Requests {
		for _, n := range byStatus {
			r.GraphRequests += n
		}
	}
	r.Faults = c.Faults
	r.PagesServed, r.PagesRefetched, r.MaxFetches = c.PagesServed, c.PagesRefetched, c.MaxFetchesPerPage
	// Each interruption (kill, restart, failed attempt) may lose the pages
	// in flight, at most one per stream being fetched: the Outlook cap per
	// mailbox plus the OneDrive and Teams streams.
	inFlight := int64(h.o.Users * (mailboxCap + 2))
	r.RefetchBound = int64(r.Kills+r.PostgresRestarts+r.JobErrors) * inFlight
	if r.PagesRefetched > r.RefetchBound {
		r.violate("%d pages fetched again, more than the %d that %d kills, %d restarts and %d failed attempts explain",
			r.PagesRefetched, r.RefetchBound, r.Kills, r.PostgresRestarts, r.JobErrors)
	}

	r.Refreshes = map[string]int{}
	r.RefreshWindows = int(r.chaosEnd.Sub(r.chaosStart)/h.refreshEvery) + 1
	r.RefreshReuse = c.RefreshTokensReused
	for _, conn := range h.conns {
		grants := c.RefreshGrants[conn.UserID]
		r.Refreshes[conn.UserPrincipalName] = len(grants)
		for i := 1; i < len(grants); i++ {
			if grants[i].Sub(grants[i-1]) < h.refreshEvery/2 && !h.interruptedBetween(grants[i-1], grants[i]) {
				r.DoubleRefreshes++
				r.violate("%s: refresh tokens redeemed %s apart (refresh window %s) with no kill in between",
					conn.UserPrincipalName, grants[i].Sub(grants[i-1]).Round(time.Millisecond), h.refreshEvery)
			}
		}
	}

	r.PeakPerMailbox = map[string]int{}
	for _, conn := range h.conns {
		for k, n := range c.PeakOutlook {
			if strings.HasSuffix(k, "|"+conn.UserID) {
				r.PeakPerMailbox[conn.UserPrincipalName] = max(r.PeakPerMailbox[conn.UserPrincipalName], n)
			}
		}
		if p := r.PeakPerMailbox[conn.UserPrincipalName]; p > mailboxCap {
			r.violate("%s: %d Outlook requests in flight at once, above the cap of %d", conn.UserPrincipalName, p, mailboxCap)
		}
	}
	r.Throttled = c.Throttled + c.ThrottledUnavailable
	r.EarlySent = c.EarlySent
	if c.EarlySent > 0 {
		r.violate("%d requests sent before a Retry-After had elapsed: %v", c.EarlySent, c.EarlySentByKey)
	}
	if r.Kills < h.o.Kills {
		r.violate("only %d of %d kills happened", r.Kills, h.o.Kills)
	}
	if r.PostgresRestarts < h.o.PostgresRestarts {
		r.violate("only %d of %d PostgreSQL restarts happened", r.PostgresRestarts, h.o.PostgresRestarts)
	}
	r.Elapsed = time.Since(h.start)
	return nil
}

func (h *harness) interruptedBetween(a, b time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, t := range h.interruption {
		if !t.Before(a) && !t.After(b) {
			return true
		}
	}
	return false
}

// Print writes the figures and the violations.
func (r *Report) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k string, v any, note string) { fmt.Fprintf(tw, "  %s\t%v\t%s\n", k, v, note) }
	o := r.Options
	fmt.Fprintf(tw, "graphsync chaos: %d users × %d messages, resources %s, %s of chaos\n", o.Users, o.MessagesPerUser, strings.Join(graphsync.Names(resources), ", "), o.Duration)
	row("kills survived (SIGKILL)", r.Kills, fmt.Sprintf("%d running jobs handed back by the harness", r.JobsRescued))
	row("kills left to River's rescuer", r.KillsLeftToRiver, fmt.Sprintf("%d running jobs, %d rescued by River and run again (GRAPHSYNC_RESCUE_AFTER %s)",
		r.JobsLeftToRiver, r.JobsRescuedByRiver, rescueAfter))
	row("PostgreSQL restarts survived", r.PostgresRestarts, "pg_ctl restart -m immediate")
	row("objects checked against the truth", r.Checked, "")
	row("rows lost", r.RowsLost, fmt.Sprintf("%d stored wrong or extra", r.RowsWrong))
	row("duplicates", r.Duplicates, "items live more than once (under two ids, in two folders)")
	row("pages re-fetched", r.PagesRefetched, fmt.Sprintf("of %d served; bound %d; at most %d fetches of one page", r.PagesServed, r.RefetchBound, r.MaxFetches))
	row("failed job attempts", r.JobErrors, fmt.Sprintf("%d waiting to retry at the end, %d discarded", r.JobsRetryable, r.JobsDiscarded))
	var qs []string
	var qn int64
	for k, n := range r.Quarantined {
		qs = append(qs, fmt.Sprintf("%d × %s", n, k))
		qn += n
	}
	sort.Strings(qs)
	row("quarantined records", qn, strings.Join(qs, "; "))
	var refresh []string
	for k, n := range r.Refreshes {
		refresh = append(refresh, fmt.Sprintf("%s %d", strings.SplitN(k, "@", 2)[0], n))
	}
	sort.Strings(refresh)
	row("token refreshes per connection", strings.Join(refresh, ", "), fmt.Sprintf("%d refresh windows; %d double refreshes; %d refresh tokens redeemed twice", r.RefreshWindows, r.DoubleRefreshes, r.RefreshReuse))
	var peaks []string
	for k, n := range r.PeakPerMailbox {
		peaks = append(peaks, fmt.Sprintf("%s %d", strings.SplitN(k, "@", 2)[0], n))
	}
	sort.Strings(peaks)
	row("peak Outlook requests per mailbox", strings.Join(peaks, ", "), fmt.Sprintf("cap %d", mailboxCap))
	row("requests before Retry-After elapsed", r.EarlySent, fmt.Sprintf("%d throttled responses", r.Throttled))
	var fs []string
	var fn int64
	for k, n := range r.Faults {
		fs = append(fs, fmt.Sprintf("%s %d", k, n))
		fn += n
	}
	slices.Sort(fs)
	row("Graph requests", r.GraphRequests, fmt.Sprintf("%d faults: %s", fn, strings.Join(fs, ", ")))
	row("clean sync", r.CleanSync.Round(time.Millisecond), "")
	row("worker log errors", r.WorkerErrors, "logs in "+r.Dir)
	row("elapsed", r.Elapsed.Round(time.Second), "")
	tw.Flush()
	if len(r.Violations) == 0 {
		fmt.Fprintln(w, "OK: no violations; the database equals the ground truth")
		return
	}
	fmt.Fprintf(w, "%d VIOLATIONS:\n", len(r.Violations))
	for _, v := range r.Violations {
		fmt.Fprintln(w, "  - "+v)
	}
}
