// Package demo runs graphsync's whole pipeline against the bundled Graph
// emulator, for `make demo`: a local PostgreSQL, the OAuth connect flow for
// every user and admin consent for the tenant (its groups and SharePoint
// sites), an initial sync, change-notification subscriptions, a burst of
// mutations synced as Graph notifies them (and a poll of what Graph does not
// notify about), a summary, a check of the database against the emulator's
// ground truth, and a replay of the change feed onto empty tables that must
// rebuild them.
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
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"golang.org/x/time/rate"

	"github.com/graphsync/graphsync/connect"
	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graph"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/identity"
	"github.com/graphsync/graphsync/internal/pglocal"
	"github.com/graphsync/graphsync/internal/proc"
	"github.com/graphsync/graphsync/internal/progress"
	"github.com/graphsync/graphsync/internal/verify"
	"github.com/graphsync/graphsync/internal/worker"
	"github.com/graphsync/graphsync/jobs"
	"github.com/graphsync/graphsync/server"
	"github.com/graphsync/graphsync/store"
	"github.com/graphsync/graphsync/syncer"
)

// shareOf is a mailbox its owner shared, synced by the delegate's
// connection.
type shareOf struct{ owner, delegate *store.Connection }

// reconcileEvery is the demo's reconciliation period: long enough that no
// pass falls within the run unless the demo makes one due (step 7).
const reconcileEvery = 1000 * time.Hour

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
// what is live. With 50,000 messages the process stays under 1 GB, as
// it is often the first thing run on a small machine.
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
	fmt.Fprintln(out, "[1/8] PostgreSQL")
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

	fmt.Fprintf(out, "[2/8] Graph emulator: %d users × %d messages\n", o.Users, o.Messages)
	fmt.Fprintf(out, "      generating every user's mail, calendar, contacts, OneDrive, chats and people, and the tenant's groups and SharePoint sites (%d messages take about %ds) ...\n",
		o.Users*o.Messages, max(1, o.Users*o.Messages/5000))
	genStart := time.Now()
	redirect, err := connect.LoopbackRedirect("/callback")
	if err != nil {
		return err
	}
	const clientID, secret = "graphsync-demo", "demo-client-secret"
	ecfg := emulator.Config{Seed: o.Seed, Users: o.Users, MessagesPerUser: o.Messages,
		Apps: []emulator.App{{ClientID: clientID, Secret: secret, RedirectURIs: []string{redirect}}}}
	// Delta misses what Microsoft documents it can miss; reconciliation
	// repairs it.
	ecfg.MissedChanges = true
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
	// The operator's site selection (--sites): every site of the tenant,
	// the intranet by its URL and the others by their site ids, as
	// either is accepted.
	var selected []string
	for i, site := range em.Sites() {
		if i == 0 {
			selected = append(selected, site.WebURL)
		} else {
			selected = append(selected, site.ID)
		}
	}
	sites, err := graphsync.ParseSites(strings.Join(selected, ","))
	if err != nil {
		return err
	}
	// The notification endpoint, on loopback: the emulator posts to it as
	// Graph posts to the public URL in production.
	ln, err := server.ListenNotifications("127.0.0.1:0")
	if err != nil {
		return err
	}
	w, err := worker.New(worker.Config{Store: st, Logger: warn, Graph: gcfg, App: app, NotifyURL: "http://" + ln.Addr().String(),
		Jobs:   jobs.Config{DisableScheduler: true, PollInterval: 100 * time.Millisecond, SyncWorkers: 10},
		Engine: syncer.Config{ReconcileEvery: reconcileEvery, Sites: sites}})
	if err != nil {
		ln.Close()
		return err
	}

	fmt.Fprintln(out, "[3/8] Connecting every user through the OAuth authorization-code flow with PKCE, and the tenant through admin consent")
	var conns []*store.Connection
	// Users connect the resources read per mailbox, and may read the
	// mailboxes shared with them.
	shareScopes := []string{}
	for _, r := range graphsync.Shareable(graphsync.Resources) {
		shareScopes = append(shareScopes, r.SharedPermission())
	}
	for _, u := range em.Users() {
		conn, err := connect.Headless(ctx, connect.Config{Store: st, Graph: w.Graph, Auth: app,
			Resources: graphsync.Resources, ExtraScopes: shareScopes, LoginHint: u.UserPrincipalName})
		if err != nil {
			return fmt.Errorf("connect %s: %w", u.UserPrincipalName, err)
		}
		fmt.Fprintf(out, "      connected %-40s connection %d\n", conn.UserPrincipalName, conn.ID)
		conns = append(conns, conn)
	}
	var shared *shareOf
	if len(conns) > 1 {
		// The first user shares their mailbox with the second, who syncs
		// it as a shared mailbox.
		shared = &shareOf{owner: conns[0], delegate: conns[1]}
		if err := em.ShareMailbox(emulator.MailboxShare{Owner: shared.owner.UserID, Delegate: shared.delegate.UserID,
			Mail: true, Calendar: true, Contacts: true}); err != nil {
			return err
		}
		if err := st.AddMailbox(ctx, shared.delegate.ID, store.Mailbox{UserID: shared.owner.UserID, Address: shared.owner.UserPrincipalName}); err != nil {
			return err
		}
		fmt.Fprintf(out, "      %s also syncs the mailbox %s shared with them\n", shared.delegate.UserPrincipalName, shared.owner.UserPrincipalName)
	}
	// The tenant's application connection syncs what only an application
	// reads: the groups and their members, and the selected SharePoint
	// sites' document libraries.
	tenantAuth := app
	tenantAuth.Tenant = em.TenantID()
	tenant, err := connect.Headless(ctx, connect.Config{Store: st, Graph: w.Graph, Auth: tenantAuth,
		Resources: graphsync.TenantResources, Application: true})
	if err != nil {
		return fmt.Errorf("admin consent: %w", err)
	}
	fmt.Fprintf(out, "      connected tenant %-33s connection %d (%s)\n", tenant.TenantID, tenant.ID, strings.Join(graphsync.Names(tenant.Resources), ", "))
	if len(selected) > 0 {
		fmt.Fprintf(out, "      the tenant syncs the document libraries of its %d SharePoint sites, selected as --sites does: %s by URL, the other %d by site id\n",
			len(selected), selected[0], len(selected)-1)
	}

	client, err := w.Jobs.NewClient(true)
	if err != nil {
		return err
	}
	endpoint := server.StartNotifications(ln, w.Receiver(client), warn)
	defer endpoint.Close()
	if err := client.Start(ctx); err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = client.Stop(sctx)
	}()

	term := progress.IsTerminal(out)
	fmt.Fprintln(out, "[4/8] Initial sync")
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

	fmt.Fprintln(out, "[5/8] Subscribing to Graph change notifications (validation handshake, clientState sealed)")
	if _, err := w.Notify.Reconcile(ctx); err != nil {
		return err
	}
	subs, err := st.Subscriptions(ctx, 0)
	if err != nil {
		return err
	}
	byStatus := map[string]int{}
	for _, s := range subs {
		byStatus[s.Status]++
	}
	fmt.Fprintf(out, "      %d subscriptions active (mail, calendar, contacts, drive and chats of every user), %d failed\n",
		byStatus[store.SubscriptionActive], len(subs)-byStatus[store.SubscriptionActive])

	fmt.Fprintf(out, "[6/8] Applying %d changes in Microsoft 365 over 5 seconds; Graph notifies, and each mailbox syncs what changed\n", o.Mutations)
	requests0 := graphRequests(em)
	t1 := time.Now()
	for i := range 20 {
		em.Mutate(o.Mutations*(i+1)/20 - o.Mutations*i/20)
		time.Sleep(250 * time.Millisecond)
	}
	if err := waitNotified(ctx, em); err != nil {
		return err
	}
	jobsRun, err := waitSynced(ctx, client, out)
	if err != nil {
		return err
	}
	incremental := time.Since(t1)
	latency := notifiedLatency(em)
	fmt.Fprintf(out, "      %d notifications delivered; change to notification p50 %s, p99 %s; %d notified syncs, %d Graph requests\n",
		latency.n, latency.p50, latency.p99, jobsRun, graphRequests(em)-requests0)

	var polled []*graphsync.Resource
	for _, r := range graphsync.Enableable() {
		if r.Notifications() == nil {
			polled = append(polled, r)
		}
	}
	fmt.Fprintf(out, "[7/8] Polling what Graph does not notify about (%s)\n", strings.Join(graphsync.Names(polled), ", "))
	pass, err = w.Jobs.EnqueueSync(ctx, client, 0, polled)
	if err != nil {
		return err
	}
	if err := progress.Watch(ctx, st, pass, out, term); err != nil {
		return err
	}

	// Delta misses some changes, as Microsoft documents (the emulator
	// misses them too): each stream's reconciliation pass, made due now,
	// lists its ids and repairs the difference.
	fmt.Fprintln(out, "      and reconciling every stream: ids listed, what delta missed repaired")
	reconcileStart := time.Now().Add(-time.Second)
	if err := st.BackdateReconciliations(ctx, reconcileEvery); err != nil {
		return err
	}
	pass, err = w.Jobs.EnqueueSync(ctx, client, 0, nil, jobs.Incremental)
	if err != nil {
		return err
	}
	if err := progress.Watch(ctx, st, pass, out, term); err != nil {
		return err
	}
	reconciled, passes, err := st.ReconciledSince(ctx, reconcileStart)
	if err != nil {
		return err
	}

	fmt.Fprintln(out, "[8/8] Checking the database against the emulator's ground truth")
	pool, err := pgxpool.New(ctx, db)
	if err != nil {
		return err
	}
	defer pool.Close()
	var results []verify.Result
	check := func(what string, read func() ([]verify.Result, error)) error {
		r, err := read()
		if err != nil {
			return err
		}
		objects := 0
		for _, x := range r {
			objects += x.Truth
		}
		results = append(results, r...)
		fmt.Fprintf(out, "      checked %-40s %7d objects\n", what, objects)
		return nil
	}
	resources := func(conn *store.Connection, user string, rs []*graphsync.Resource) func() ([]verify.Result, error) {
		return func() ([]verify.Result, error) {
			var out []verify.Result
			for _, res := range rs {
				r, err := verify.Resource(ctx, pool, em.URL(), conn.ID, user, res.Name())
				if err != nil {
					return nil, err
				}
				out = append(out, r...)
			}
			return out, nil
		}
	}
	for _, conn := range conns {
		if err := check(conn.UserPrincipalName, resources(conn, conn.UserID, conn.Resources)); err != nil {
			return err
		}
	}
	if shared != nil {
		if err := check(shared.owner.UserPrincipalName+" (shared)", resources(shared.delegate, shared.owner.UserID, graphsync.Shareable(shared.delegate.Resources))); err != nil {
			return err
		}
	}
	// The sites against the operator's selection, not only against the
	// sites the worker recorded: a selected site it never read differs.
	others := slices.DeleteFunc(slices.Clone(tenant.Resources), func(r *graphsync.Resource) bool { return r == graphsync.Sites })
	if err := check("tenant "+tenant.TenantID, resources(tenant, "", others)); err != nil {
		return err
	}
	if err := check(fmt.Sprintf("%d SharePoint sites (tenant)", len(selected)), func() ([]verify.Result, error) {
		return verify.Sites(ctx, pool, em.URL(), tenant.ID, "", selected)
	}); err != nil {
		return err
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

	if err := summary(ctx, out, st, em, results, initial, incremental, messages, time.Since(started), commitLatency()); err != nil {
		return err
	}
	fmt.Fprintf(out, "Reconciliation: %d stream passes listed %d ids and repaired %d rows (%d marked deleted, %d fetched) that delta missed.\n",
		passes, reconciled.Listed, reconciled.Deleted+reconciled.Fetched, reconciled.Deleted, reconciled.Fetched)
	if bad > 0 {
		return fmt.Errorf("demo: %d tables differ from the ground truth", bad)
	}
	fmt.Fprintf(out, "OK: the database equals Microsoft 365 (the emulator's ground truth): %d objects checked across %d connections.\n", checked, len(conns)+1)

	// What an app following the change feed sees: replayed from its start
	// onto empty tables, it must rebuild every synced table.
	replayed, err := verify.Replay(ctx, pool)
	if err != nil {
		return err
	}
	if !replayed.Equal() {
		for _, d := range replayed.Diffs() {
			fmt.Fprintf(out, "      MISMATCH %s\n", d)
		}
		return fmt.Errorf("demo: the tables rebuilt from the change feed differ from the synced ones")
	}
	var rows int
	for _, t := range replayed.Tables {
		rows += t.Rows
	}
	fmt.Fprintf(out, "OK: the change feed recorded %d changes; replayed onto empty tables, they rebuild all %d synced tables exactly (%d rows, live and deleted).\n",
		replayed.Changes, len(replayed.Tables), rows)
	return nil
}

// summary prints the tables' counts and what Graph saw.
func summary(ctx context.Context, out io.Writer, st *store.Store, em *emulator.Server, results []verify.Result,
	initial, incremental time.Duration, messages int64, total time.Duration, commit quantiles) error {
	counters := em.Counters()
	requests := graphRequests(em)
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
	libraries, err := st.Libraries(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "  library items (in drive_items)\t%d live\t%d deleted\n", libraries.Items, libraries.DeletedItems)
	fmt.Fprintf(w, "  library permissions (items' own)\t%d live\t%d files shared outside the tenant\n", libraries.Permissions, libraries.SharedOutside)
	fmt.Fprintf(w, "  quarantine\t%d live\t0 deleted\n", n)
	fmt.Fprintf(w, "  Graph requests\t%d\t-\n", requests)
	// Requests already on their way when a 429 was written are not early:
	// only those sent after the client could read its Retry-After are.
	fmt.Fprintf(w, "  429/503 throttled, honoured\t%d\t%d sent before Retry-After elapsed\n",
		counters.Throttled+counters.ThrottledUnavailable, counters.EarlySent)
	fmt.Fprintf(w, "  initial sync\t%s\t%.0f messages/s\n", initial.Round(time.Millisecond), float64(messages)/initial.Seconds())
	fmt.Fprintf(w, "  changes synced through notifications\t%s\tnotification to commit p50 ≤%s, p99 ≤%s (%d syncs)\n",
		incremental.Round(time.Millisecond), commit.p50, commit.p99, commit.n)
	fmt.Fprintf(w, "  total elapsed\t%s\t-\n", total.Round(time.Millisecond))
	if rss, err := proc.PeakRSS(0); err == nil {
		fmt.Fprintf(w, "  peak memory (RSS)\t%d MB\t-\n", rss>>20)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(out)
	return nil
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

// graphRequests counts the requests the emulator answered.
func graphRequests(em *emulator.Server) int64 {
	var n int64
	for _, byStatus := range em.Counters().Requests {
		for _, c := range byStatus {
			n += c
		}
	}
	return n
}

// waitNotified waits until the emulator has sent every change notification
// the mutations produced (it scans for changes every 50 ms and batches for
// 100 ms) and the counts stay still.
func waitNotified(ctx context.Context, em *emulator.Server) error {
	var last int64 = -1
	for still := 0; still < 4; {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		c := em.NotificationCounters()
		settled := c.Delivered+c.Failed+c.Dropped == c.Notifications
		if settled && c.Notifications == last {
			still++
		} else {
			still = 0
		}
		last = c.Notifications
	}
	return nil
}

// quantiles summarizes latencies.
type quantiles struct {
	n        int
	p50, p99 time.Duration
}

func quantilesOf(ds []time.Duration) quantiles {
	if len(ds) == 0 {
		return quantiles{}
	}
	slices.Sort(ds)
	at := func(q float64) time.Duration { return ds[int(q*float64(len(ds)-1))].Round(time.Millisecond) }
	return quantiles{n: len(ds), p50: at(0.5), p99: at(0.99)}
}

// notifiedLatency is the time from each change in the emulator to the
// delivery of its notification.
func notifiedLatency(em *emulator.Server) quantiles {
	var ds []time.Duration
	for _, r := range em.NotificationLog() {
		if r.State == "delivered" && r.ChangeType != "" {
			ds = append(ds, r.DeliveredAt.Sub(r.ChangedAt))
		}
	}
	return quantilesOf(ds)
}

// commitLatency reads, from this process's metrics, the time from a
// notification's arrival to the commit of the sync it queued.
func commitLatency() quantiles {
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		return quantiles{}
	}
	for _, mf := range mfs {
		if mf.GetName() != "graphsync_notification_to_commit_seconds" || len(mf.GetMetric()) == 0 {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		// The bucket holding each quantile, as histogram_quantile would
		// bound it from above.
		q := quantiles{n: int(h.GetSampleCount())}
		for _, b := range h.GetBucket() {
			cum := float64(b.GetCumulativeCount())
			if q.p50 == 0 && cum >= 0.5*float64(q.n) {
				q.p50 = time.Duration(b.GetUpperBound() * float64(time.Second))
			}
			if q.p99 == 0 && cum >= 0.99*float64(q.n) {
				q.p99 = time.Duration(b.GetUpperBound() * float64(time.Second))
			}
		}
		return q
	}
	return quantiles{}
}

// waitSynced waits until no sync job is queued or running, printing how
// many are active every few seconds, and returns how many ran.
func waitSynced(ctx context.Context, client *river.Client[store.Tx], out io.Writer) (int, error) {
	kinds := river.NewJobListParams().Kinds(jobs.SyncArgs{}.Kind()).First(10_000)
	start, last := time.Now(), time.Now()
	for {
		res, err := client.JobList(ctx, kinds.States(rivertype.JobStateAvailable, rivertype.JobStateRunning,
			rivertype.JobStateRetryable, rivertype.JobStateScheduled, rivertype.JobStatePending))
		if err != nil {
			return 0, err
		}
		if len(res.Jobs) == 0 {
			done, err := client.JobList(ctx, kinds.States(rivertype.JobStateCompleted))
			if err != nil {
				return 0, err
			}
			n := 0
			for _, j := range done.Jobs {
				if j.CreatedAt.After(start.Add(-time.Minute)) && strings.Contains(string(j.EncodedArgs), "notified_at") {
					n++
				}
			}
			return n, nil
		}
		if time.Since(last) > 5*time.Second {
			fmt.Fprintf(out, "      %.1fs, %d mailboxes syncing\n", time.Since(start).Seconds(), len(res.Jobs))
			last = time.Now()
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
