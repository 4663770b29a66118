package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/config"
	"github.com/graphsync/graphsync/store"
)

// StatusCommand shows how far each connection's resources are in step.
type StatusCommand struct{ *Main }

func (c *StatusCommand) Run(ctx context.Context, args []string) error {
	fs := c.flagSet("status", "status [--connection ID] [flags]",
		"Show, per connection and resource: when the resource last synced as a whole and the lag since (the\n"+
			"lag graphsync_sync_lag_seconds reports the worst of), page and row counts, the status (ok, error,\n"+
			"missing_scope with the permission, disabled, waiting for rescue when the connection's sync\n"+
			"job ran on a worker that is gone), the change-notification subscription's status and expiry, any\n"+
			"throttle window, quarantined records and the last error; then the tenant budgets' fill, the\n"+
			"gates the running workers published (rate and concurrency in use against the configured, per\n"+
			"service, then the tenant gates and the slowest mailboxes), and warnings that concern every\n"+
			"connection (the app's credentials, its client secret's expiry, tokens the encryption key cannot\n"+
			"open). A resource with several streams (mail folders, chats) shows their sum and worst status;\n"+
			"`graphsync connections show ID` lists every stream and subscription.")
	only := fs.Int64("connection", 0, "show only the connection with this ID")
	cfg, err := c.load(fs, args, config.Need{Database: true})
	if err != nil {
		return err
	}
	if err := wantArgs(fs, 0, ""); err != nil {
		return err
	}
	st, err := openStore(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer st.Close()

	var conns []*store.Connection
	if *only != 0 {
		cn, err := existingConnection(ctx, st, *only)
		if err != nil {
			return err
		}
		conns = []*store.Connection{cn}
	} else if conns, err = st.Connections(ctx); err != nil {
		return err
	}
	if len(conns) == 0 {
		fmt.Fprintln(c.Stdout, "No connections yet: connect a user with `graphsync connect` or import some with `graphsync connections import`.")
		warns, err := warnings(ctx, cfg, st, time.Now())
		if err != nil {
			return err
		}
		printWarnings(c.Stdout, warns)
		return nil
	}
	states, err := st.SyncStates(ctx, *only)
	if err != nil {
		return err
	}
	counts, err := st.QuarantineCounts(ctx, *only)
	if err != nil {
		return err
	}
	quarantined := map[quarantineKey]int{}
	for _, q := range counts {
		quarantined[quarantineKey{q.ConnectionID, q.Resource}] = q.N
	}
	windows, err := st.OpenThrottleWindows(ctx)
	if err != nil {
		return err
	}
	lags, err := st.ResourceLags(ctx, *only)
	if err != nil {
		return err
	}
	behind := map[quarantineKey]store.ResourceLag{}
	for _, l := range lags {
		behind[quarantineKey{l.ConnectionID, l.Resource}] = l
	}
	subs, err := st.Subscriptions(ctx, *only)
	if err != nil {
		return err
	}
	notified := map[quarantineKey]*subscriptionSummary{}
	for _, sub := range subs {
		k := quarantineKey{sub.Connection, sub.Resource.Name()}
		if notified[k] == nil {
			notified[k] = &subscriptionSummary{}
		}
		notified[k].add(sub)
	}

	byConn := map[int64][]*store.SyncState{}
	for _, s := range states {
		byConn[s.Connection] = append(byConn[s.Connection], s)
	}
	now := time.Now()
	stranded, err := strandedByConnection(ctx, st, cfg, *only, now)
	if err != nil {
		return err
	}
	w := table(c.Stdout)
	row(w, "ID", "UPN", "CONNECTION", "RESOURCE", "STATUS", "SUBSCRIPTION", "EXPIRES", "LAST SUCCESS", "LAG", "STREAMS", "PAGES",
		"UPSERTED", "DELETED", "RESYNCS", "THROTTLED UNTIL", "QUARANTINED", "LAST ERROR")
	for _, cn := range conns {
		throttled := throttledUntil(cn, windows, now)
		for _, r := range summarize(cn, byConn[cn.ID]) {
			lastErr := r.lastError
			if lastErr == "" && cn.Status != store.StatusActive {
				lastErr = errorText(cn.LastErrorCode, cn.LastError, nil)
			}
			// Lag only where the gauge counts it: active connections,
			// enabled resources with their permission.
			lastSuccess, lagText := r.lastSuccess, "-"
			if l, ok := behind[quarantineKey{cn.ID, r.resource}]; ok {
				lastSuccess, lagText = l.LastSuccess, "never"
				if l.LastSuccess != nil {
					lagText = l.Lag.Round(time.Second).String()
				}
			}
			status := r.status
			if len(stranded[cn.ID]) > 0 {
				status = waitingForRescue
			}
			sub := notified[quarantineKey{cn.ID, r.resource}]
			row(w, strconv.FormatInt(cn.ID, 10), describe(cn), cn.Status, r.resource, status, sub.status(), sub.until(),
				formatTime(lastSuccess), lagText, strconv.Itoa(r.streams), itoa(r.pages), itoa(r.upserted),
				itoa(r.deleted), itoa(r.resyncs), formatTime(throttled),
				strconv.Itoa(quarantined[quarantineKey{cn.ID, r.resource}]), oneLine(lastErr, 100))
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	writeStranded(c.Stdout, stranded, now)
	warns, err := warnings(ctx, cfg, st, now)
	if err != nil {
		return err
	}
	if err := printWebhooks(ctx, c.Stdout, st, true); err != nil {
		return err
	}
	if err := printBudgets(ctx, c.Stdout, st); err != nil {
		return err
	}
	if err := printGates(ctx, c.Stdout, st, now); err != nil {
		return err
	}
	printWarnings(c.Stdout, warns)
	return nil
}

// printBudgets writes the tenant budgets every worker draws from: how full
// each bucket is now, the refill rate its latest taker asked for (below
// the configured one while a worker is slowed by Graph's answers), and
// the processes holding a live slice.
func printBudgets(ctx context.Context, out io.Writer, st *store.Store) error {
	budgets, err := st.Budgets(ctx)
	if err != nil || len(budgets) == 0 {
		return err
	}
	fmt.Fprintln(out)
	fmt.Fprintln(out, "Tenant budgets")
	w := table(out)
	row(w, "TENANT", "SERVICE", "FILL", "TOKENS", "REFILL/S", "PROCESSES", "TAKEN")
	for _, b := range budgets {
		row(w, b.Scope.Tenant, b.Scope.Service.String(), fmt.Sprintf("%.0f%%", 100*b.Tokens/b.Burst),
			fmt.Sprintf("%.1f/%.0f", b.Tokens, b.Burst), fmt.Sprintf("%.2f", b.Rate), strconv.Itoa(b.Holders), fmt.Sprintf("%.0f", b.Taken))
	}
	return w.Flush()
}

// maxGateLines bounds the gates listed one by one.
const maxGateLines = 20

// printGates writes the gates the running workers published: per service,
// how many there are, how many Graph's answers slowed, and the rate and
// concurrency they allow against the configured; then each tenant
// service's gate and the slowest mailboxes'.
func printGates(ctx context.Context, out io.Writer, st *store.Store, now time.Time) error {
	gates, err := st.GateStates(ctx)
	if err != nil || len(gates) == 0 {
		return err
	}
	type sum struct {
		gates, slowed, throttles int
		rate, configured         float64
		conc, maxConc            int
		holders                  map[string]bool
	}
	var order []graphsync.Service
	sums := map[graphsync.Service]*sum{}
	for _, g := range gates {
		s := sums[g.Scope.Service]
		if s == nil {
			s = &sum{holders: map[string]bool{}}
			sums[g.Scope.Service] = s
			order = append(order, g.Scope.Service)
		}
		s.gates++
		s.throttles += int(g.Throttles)
		s.rate += g.Rate
		s.configured += g.ConfiguredRate
		s.conc += g.Concurrency
		s.maxConc += g.MaxConcurrency
		s.holders[g.Holder] = true
		if g.Slowed() {
			s.slowed++
		}
	}
	slices.Sort(order)
	fmt.Fprintln(out)
	fmt.Fprintln(out, "Gates (published by running workers: every tenant service's, and mailboxes' Graph slowed, blocked or throttled)")
	w := table(out)
	row(w, "SERVICE", "GATES", "SLOWED", "RATE/S", "CONFIGURED/S", "CONCURRENCY", "THROTTLES", "PROCESSES")
	for _, svc := range order {
		s := sums[svc]
		conc := "-"
		if s.maxConc > 0 {
			conc = fmt.Sprintf("%d/%d", s.conc, s.maxConc)
		}
		row(w, svc.String(), strconv.Itoa(s.gates), strconv.Itoa(s.slowed), fmt.Sprintf("%.2f", s.rate),
			fmt.Sprintf("%.2f", s.configured), conc, strconv.Itoa(s.throttles), strconv.Itoa(len(s.holders)))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	// Tenant services first, then the slowest mailboxes.
	slices.SortStableFunc(gates, func(a, b store.GateState) int {
		return cmp.Or(cmp.Compare(btoi(a.Scope.IsMailbox()), btoi(b.Scope.IsMailbox())), cmp.Compare(a.Share(), b.Share()))
	})
	fmt.Fprintln(out)
	w = table(out)
	row(w, "SCOPE", "PROCESS", "RATE/S", "CONFIGURED/S", "LEARNT/S", "CONCURRENCY", "THROTTLES", "BLOCKED")
	for i, g := range gates {
		if i == maxGateLines {
			break
		}
		conc, learnt, blocked := "-", "-", "-"
		if g.MaxConcurrency > 0 {
			conc = fmt.Sprintf("%d/%d", g.Concurrency, g.MaxConcurrency)
		}
		if g.LearnedRate > 0 {
			learnt = fmt.Sprintf("%.2f", g.LearnedRate)
		}
		if g.BlockedUntil.After(now) {
			blocked = g.BlockedUntil.Sub(now).Round(time.Second).String()
		}
		row(w, g.Scope.String(), g.Holder, fmt.Sprintf("%.2f", g.Rate), fmt.Sprintf("%.2f", g.ConfiguredRate), learnt,
			conc, strconv.FormatInt(g.Throttles, 10), blocked)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if len(gates) > maxGateLines {
		fmt.Fprintf(out, "(%d more)\n", len(gates)-maxGateLines)
	}
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// printWarnings writes warnings under a blank line, one per line.
func printWarnings(w io.Writer, warns []string) {
	if len(warns) == 0 {
		return
	}
	fmt.Fprintln(w)
	for _, s := range warns {
		fmt.Fprintf(w, "warning: %s\n", s)
	}
}

// resourceStatus sums the streams of one resource of a connection.
type resourceStatus struct {
	resource                          string
	status                            string
	streams                           int
	lastSuccess                       *time.Time // the top-level stream's
	rank                              int
	pages, upserted, deleted, resyncs int64
	lastError                         string
	lastErrorAt                       *time.Time
}

// statusRank orders stream statuses from best to worst.
var statusRank = map[string]int{store.StreamOK: 0, store.StreamStopped: 1, store.StreamError: 2, store.StreamMissingScope: 3}

// summarize returns one line per resource the connection syncs or has state
// for, in name order; a resource with state that the connection no longer
// syncs is disabled.
func summarize(cn *store.Connection, states []*store.SyncState) []*resourceStatus {
	byName := map[string]*resourceStatus{}
	get := func(name string) *resourceStatus {
		r := byName[name]
		if r == nil {
			r = &resourceStatus{resource: name, status: "not synced yet"}
			byName[name] = r
		}
		return r
	}
	for _, r := range cn.Resources {
		get(r.Name())
	}
	for _, s := range states {
		r := get(s.Resource.Name())
		if r.streams == 0 || statusRank[s.Status] > r.rank {
			r.rank = statusRank[s.Status]
			r.status = streamStatus(s.Status, s.MissingScope)
		}
		r.streams++
		r.pages += s.Pages
		r.upserted += s.Upserted
		r.deleted += s.Deleted
		r.resyncs += s.Resyncs
		if s.Container == "" && s.LastSuccessAt != nil && (r.lastSuccess == nil || s.LastSuccessAt.Before(*r.lastSuccess)) {
			r.lastSuccess = s.LastSuccessAt
		}
		if s.Status != store.StreamOK && s.LastError != "" &&
			(r.lastErrorAt == nil || (s.LastErrorAt != nil && s.LastErrorAt.After(*r.lastErrorAt))) {
			r.lastError, r.lastErrorAt = s.LastError, s.LastErrorAt
			if s.Status == store.StreamMissingScope && s.MissingScope != "" {
				r.lastError = fmt.Sprintf("needs the %s permission: %s", s.MissingScope, s.LastError)
			}
		}
	}
	out := make([]*resourceStatus, 0, len(byName))
	for _, r := range byName {
		if r.resource != graphsync.Users.Name() &&
			!slices.ContainsFunc(cn.Resources, func(res *graphsync.Resource) bool { return res.Name() == r.resource }) {
			r.status = "disabled"
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].resource < out[j].resource })
	return out
}

// subscriptionSummary sums the change-notification subscriptions of one
// resource of a connection (one per user for an application connection):
// the worst status, with how many share it when not all do, and the
// soonest expiry among the active ones.
type subscriptionSummary struct {
	worst         string
	n, worstCount int
	expires       *time.Time
}

// subscriptionRank orders subscription statuses from best to worst.
var subscriptionRank = map[string]int{store.SubscriptionActive: 0, store.SubscriptionPending: 1,
	store.SubscriptionMissingScope: 2, store.SubscriptionLimitReached: 3, store.SubscriptionFailed: 4}

func (s *subscriptionSummary) add(sub *store.Subscription) {
	s.n++
	switch {
	case s.worst == "" || subscriptionRank[sub.Status] > subscriptionRank[s.worst]:
		s.worst, s.worstCount = sub.Status, 1
	case sub.Status == s.worst:
		s.worstCount++
	}
	if sub.Status == store.SubscriptionActive && sub.ExpiresAt != nil && (s.expires == nil || sub.ExpiresAt.Before(*s.expires)) {
		s.expires = sub.ExpiresAt
	}
}

// status is "-" without subscriptions (notifications off, or a resource
// Graph does not notify about).
func (s *subscriptionSummary) status() string {
	switch {
	case s == nil:
		return "-"
	case s.worstCount < s.n:
		return fmt.Sprintf("%s(%d/%d)", s.worst, s.worstCount, s.n)
	}
	return s.worst
}

func (s *subscriptionSummary) until() string {
	if s == nil || s.expires == nil {
		return "-"
	}
	return s.expires.UTC().Format("2006-01-02T15:04Z")
}

type quarantineKey struct {
	connection int64
	resource   string
}

// throttledUntil is the end of the latest open window that holds back cn:
// its mailbox's, or one of its tenant's services'.
func throttledUntil(cn *store.Connection, windows []store.ThrottleWindow, now time.Time) *time.Time {
	var latest *time.Time
	for i, w := range windows {
		if !w.Until.After(now) || !strings.EqualFold(w.Scope.Tenant, cn.TenantID) {
			continue
		}
		match := !w.Scope.IsMailbox() ||
			strings.EqualFold(w.Scope.Mailbox, cn.UserID) || strings.EqualFold(w.Scope.Mailbox, cn.UserPrincipalName)
		if match && (latest == nil || w.Until.After(*latest)) {
			latest = &windows[i].Until
		}
	}
	return latest
}
