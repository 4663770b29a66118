package main

import (
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
			"missing_scope with the permission, disabled), any throttle window, quarantined records and the last\n"+
			"error; then warnings that concern every connection (the app's credentials, its client secret's\n"+
			"expiry, tokens the encryption key cannot open). A resource with several streams (mail folders, chats)\n"+
			"shows their sum and worst status; `graphsync connections show ID` lists every stream.")
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

	byConn := map[int64][]*store.SyncState{}
	for _, s := range states {
		byConn[s.Connection] = append(byConn[s.Connection], s)
	}
	now := time.Now()
	w := table(c.Stdout)
	row(w, "ID", "UPN", "CONNECTION", "RESOURCE", "STATUS", "LAST SUCCESS", "LAG", "STREAMS", "PAGES", "UPSERTED", "DELETED", "RESYNCS", "THROTTLED UNTIL", "QUARANTINED", "LAST ERROR")
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
			row(w, strconv.FormatInt(cn.ID, 10), describe(cn), cn.Status, r.resource, r.status,
				formatTime(lastSuccess), lagText, strconv.Itoa(r.streams), itoa(r.pages), itoa(r.upserted),
				itoa(r.deleted), itoa(r.resyncs), formatTime(throttled),
				strconv.Itoa(quarantined[quarantineKey{cn.ID, r.resource}]), oneLine(lastErr, 100))
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	warns, err := warnings(ctx, cfg, st, now)
	if err != nil {
		return err
	}
	printWarnings(c.Stdout, warns)
	return nil
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
