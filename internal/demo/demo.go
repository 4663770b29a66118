// Package demo runs graphsync's whole pipeline against the bundled Graph
// emulator, for `make demo`: a local PostgreSQL, the OAuth connect flow for
// every user, an initial sync, a burst of mutations, an incremental sync, a
// summary, and a check of the database against the emulator's ground truth.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/time/rate"

	"github.com/graphsync/graphsync/connect"
	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graph"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/identity"
	"github.com/graphsync/graphsync/internal/pglocal"
	"github.com/graphsync/graphsync/internal/progress"
	"github.com/graphsync/graphsync/internal/verify"
	"github.com/graphsync/graphsync/internal/worker"
	"github.com/graphsync/graphsync/jobs"
	"github.com/graphsync/graphsync/store"
)

// Options are the demo's knobs.
type Options struct {
	Users, Messages, Mutations int
	// Throttle applies a scaled-down Outlook throttling profile, which shows
	// Retry-After being honoured.
	Throttle bool
	Seed     int64
	// Keep leaves the demo's database on the server DATABASE_URL names
	// instead of dropping it at the end.
	Keep bool
}

// memoryLimit is the soft limit the demo sets on its process's Go heap
// (unless GOMEMLIMIT says otherwise): the emulator holds about 10 KB per
// message, and without a limit the collector lets the heap grow to twice
// what is live. With the defaults (50,000 messages) the process stays
// under 1 GB, as it is often the first thing run on a small machine.
func (o Options) memoryLimit() int64 {
	return max(800<<20, int64(o.Users)*int64(o.Messages)*16<<10)
}

// Validate names a bad option.
func (o Options) Validate() error {
	if o.Users < 1 || o.Messages < 1 || o.Mutations < 0 {
		return errors.New("--users and --messages must be positive, --mutations not negative")
	}
	return nil
}

// Run runs the demo, printing its progress and summary on out and warnings
// on errOut. It fails when a table differs from the ground truth. It sets
// the process's soft memory limit while it runs (see memoryLimit).
func Run(ctx context.Context, o Options, out, errOut io.Writer) error {
	if err := o.Validate(); err != nil {
		return err
	}
	warn := slog.New(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: slog.LevelWarn}))
	started := time.Now()
	if os.Getenv("GOMEMLIMIT") == "" {
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(o.memoryLimit()))
	}

	fmt.Fprintln(out, "graphsync demo: the whole pipeline against the bundled Microsoft Graph emulator")
	fmt.Fprintln(out, "[1/7] PostgreSQL")
	pg, err := pglocal.FromEnv(ctx, pglocal.Options{}, "DATABASE_URL")
	if err != nil {
		return err
	}
	defer pg.Stop()
	// A database of its own, so the demo never touches existing data on a
	// server from DATABASE_URL; named, and dropped at the end unless kept.
	name := fmt.Sprintf("graphsync_demo_%s_%d", time.Now().UTC().Format("20060102_150405"), os.Getpid())
	db, err := pglocal.CreateDatabase(ctx, pg.URL, name)
	if err != nil {
		return err
	}
	throwaway := pg.DataDir() != ""
	switch {
	case throwaway:
		fmt.Fprintf(out, "      started a throwaway PostgreSQL (DATABASE_URL unset or not answering); it is removed at the end\n")
	case o.Keep:
		fmt.Fprintf(out, "      created database %s on the server DATABASE_URL names; --keep leaves it there\n", name)
	default:
		fmt.Fprintf(out, "      created database %s on the server DATABASE_URL names; dropped at the end (--keep keeps it)\n", name)
	}
	if !throwaway {
		defer func() {
			if o.Keep {
				fmt.Fprintf(out, "Kept database %s: %s\n", name, redactPassword(db))
				return
			}
			dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := pglocal.DropDatabase(dctx, pg.URL, name); err != nil {
				fmt.Fprintf(errOut, "graphsync-demo: could not drop database %s: %v\n", name, err)
				return
			}
			fmt.Fprintf(out, "Dropped database %s.\n", name)
		}()
	}
	key, _ := store.GenerateKey()
	keys, _ := store.ParseKeyring(key)
	st, err := store.Open(ctx, db, keys)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.Migrate(ctx, nil); err != nil {
		return err
	}
	fmt.Fprintln(out, "      migrated a fresh database (tokens are encrypted with a key generated for this run)")

	fmt.Fprintf(out, "[2/7] Graph emulator: %d users × %d messages\n", o.Users, o.Messages)
	fmt.Fprintf(out, "      generating every user's mail, calendar, contacts, OneDrive, chats and people (%d messages take about %ds) ...\n",
		o.Users*o.Messages, max(1, o.Users*o.Messages/5000))
	genStart := time.Now()
	redirect, err := connect.LoopbackRedirect("/callback")
	if err != nil {
		return err
	}
	const clientID, secret = "graphsync-demo", "demo-client-secret"
	ecfg := emulator.Config{Seed: o.Seed, Users: o.Users, MessagesPerUser: o.Messages,
		Apps: []emulator.App{{ClientID: clientID, Secret: secret, RedirectURIs: []string{redirect}}}}
	if o.Throttle {
		ecfg.Throttle.Outlook = emulator.OutlookLimits{Requests: 30, Window: 5 * time.Second, Concurrent: 4}
	}
	em, err := emulator.Start(ecfg)
	if err != nil {
		return err
	}
	defer em.Close()
	fmt.Fprintf(out, "      generated in %s; serving Graph and the identity platform at %s\n", time.Since(genStart).Round(100*time.Millisecond), em.URL())

	gcfg := graph.Config{BaseURL: em.URL(), MaxPageSize: 100, Logger: warn}
	if o.Throttle {
		// The client's limiter follows the service's published limit, here
		// the scaled-down profile, as it follows Outlook's in production.
		gcfg.MailboxRate, gcfg.MailboxBurst = rate.Limit(30.0/5), 4
	}
	app := identity.Config{LoginURL: em.URL(), Tenant: "common", ClientID: clientID, ClientSecret: secret, RedirectURL: redirect}
	w, err := worker.New(worker.Config{Store: st, Logger: warn, Graph: gcfg, App: app,
		Jobs: jobs.Config{DisableScheduler: true, PollInterval: 100 * time.Millisecond, SyncWorkers: 10}})
	if err != nil {
		return err
	}

	fmt.Fprintln(out, "[3/7] Connecting every user through the OAuth authorization-code flow with PKCE")
	var conns []*store.Connection
	for _, u := range em.Users() {
		conn, err := connect.Headless(ctx, connect.Config{Store: st, Graph: w.Graph, Auth: app,
			Resources: graphsync.Resources, LoginHint: u.UserPrincipalName})
		if err != nil {
			return fmt.Errorf("connect %s: %w", u.UserPrincipalName, err)
		}
		fmt.Fprintf(out, "      connected %-40s connection %d\n", conn.UserPrincipalName, conn.ID)
		conns = append(conns, conn)
	}

	client, err := w.Jobs.NewClient(true)
	if err != nil {
		return err
	}
	if err := client.Start(ctx); err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = client.Stop(sctx)
	}()

	term := progress.IsTerminal(out)
	fmt.Fprintln(out, "[4/7] Initial sync")
	t0 := time.Now()
	pass, err := w.Jobs.EnqueueSync(ctx, client, 0, nil)
	if err != nil {
		return err
	}
	if err := progress.Watch(ctx, st, pass, out, term); err != nil {
		return err
	}
	initial := time.Since(t0)
	messages, _, err := st.RowCounts(ctx, graphsync.Mail.Items())
	if err != nil {
		return err
	}

	fmt.Fprintf(out, "[5/7] Applying %d changes in Microsoft 365 (new, changed, moved and deleted items of every resource)\n", o.Mutations)
	em.Mutate(o.Mutations)
	fmt.Fprintln(out, "[6/7] Incremental sync")
	t1 := time.Now()
	pass, err = w.Jobs.EnqueueSync(ctx, client, 0, nil)
	if err != nil {
		return err
	}
	if err := progress.Watch(ctx, st, pass, out, term); err != nil {
		return err
	}
	incremental := time.Since(t1)

	fmt.Fprintln(out, "[7/7] Checking the database against the emulator's ground truth")
	pool, err := pgxpool.New(ctx, db)
	if err != nil {
		return err
	}
	defer pool.Close()
	var results []verify.Result
	for _, conn := range conns {
		objects := 0
		for _, res := range conn.Resources {
			rs, err := verify.Resource(ctx, pool, em.URL(), conn.ID, conn.UserID, res.Name())
			if err != nil {
				return err
			}
			for _, r := range rs {
				objects += r.Truth
			}
			results = append(results, rs...)
		}
		fmt.Fprintf(out, "      checked %-40s %7d objects\n", conn.UserPrincipalName, objects)
	}
	bad, checked := 0, 0
	for _, r := range results {
		checked += r.Truth
		if len(r.Diffs) > 0 {
			bad++
			fmt.Fprintf(out, "      MISMATCH connection %d %s: %d rows, %d in Microsoft 365\n", r.ConnectionID, r.Table, r.Rows, r.Truth)
			for _, d := range r.Diffs {
				fmt.Fprintf(out, "        %s\n", d)
			}
		}
	}

	if err := summary(ctx, out, st, em, results, initial, incremental, messages, time.Since(started)); err != nil {
		return err
	}
	if bad > 0 {
		return fmt.Errorf("demo: %d tables differ from the ground truth", bad)
	}
	fmt.Fprintf(out, "OK: the database equals Microsoft 365 (the emulator's ground truth): %d objects checked across %d connections.\n", checked, len(conns))
	return nil
}

// summary prints the tables' counts and what Graph saw.
func summary(ctx context.Context, out io.Writer, st *store.Store, em *emulator.Server, results []verify.Result,
	initial, incremental time.Duration, messages int64, total time.Duration) error {
	counters := em.Counters()
	var requests int64
	for _, byStatus := range counters.Requests {
		for _, n := range byStatus {
			requests += n
		}
	}
	fmt.Fprintln(out)
	fmt.Fprintln(out, "Summary")
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	for _, t := range checkedTables(results) {
		live, deleted, err := st.RowCounts(ctx, t)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "  %s\t%d live\t%d deleted\n", t.Name, live, deleted)
	}
	quarantined, err := st.QuarantineCounts(ctx, 0)
	if err != nil {
		return err
	}
	n := 0
	for _, q := range quarantined {
		n += q.N
	}
	fmt.Fprintf(w, "  quarantine\t%d live\t0 deleted\n", n)
	fmt.Fprintf(w, "  Graph requests\t%d\t-\n", requests)
	fmt.Fprintf(w, "  429/503 throttled, honoured\t%d\t%d sent before Retry-After elapsed\n",
		counters.Throttled+counters.ThrottledUnavailable, counters.EarlyRetries)
	fmt.Fprintf(w, "  initial sync\t%s\t%.0f messages/s\n", initial.Round(time.Millisecond), float64(messages)/initial.Seconds())
	fmt.Fprintf(w, "  incremental sync\t%s\t-\n", incremental.Round(time.Millisecond))
	fmt.Fprintf(w, "  total elapsed\t%s\t-\n", total.Round(time.Millisecond))
	if rss, ok := peakRSS(); ok {
		fmt.Fprintf(w, "  peak memory (RSS)\t%d MB\t-\n", rss>>20)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(out)
	return nil
}

// peakRSS is the process's peak resident set size so far, where the
// system tells it (Linux: VmHWM).
func peakRSS() (int64, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}

// redactPassword masks a password in a PostgreSQL URL.
func redactPassword(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// checkedTables lists the tables the verification covered, in order of
// first appearance.
func checkedTables(results []verify.Result) []*graphsync.Table {
	var out []*graphsync.Table
	for _, r := range results {
		for _, t := range graphsync.Tables() {
			if t.Name == r.Table && !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	return out
}
