package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"time"

	"golang.org/x/time/rate"

	"github.com/graphsync/graphsync/connect"
	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/pglocal"
	"github.com/graphsync/graphsync/internal/verify"
	"github.com/graphsync/graphsync/jobs"
	"github.com/graphsync/graphsync/store"
)

// DemoCommand runs the whole pipeline against the bundled emulator: a local
// PostgreSQL, the OAuth connect flow for every user, an initial sync, a burst
// of mutations, an incremental sync, a summary, and a check of the database
// against the emulator's ground truth.
type DemoCommand struct{ *Main }

func (c *DemoCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("graphsync demo", flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	users := fs.Int("users", 5, "emulated users (mailboxes)")
	messages := fs.Int("messages", 10000, "messages per user")
	mutations := fs.Int("mutations", 2000, "changes applied between the two syncs")
	throttle := fs.Bool("throttle", true, "apply a scaled-down Outlook throttling profile (shows Retry-After being honoured)")
	seed := fs.Int64("seed", 1, "emulator seed")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *users < 1 || *messages < 1 || *mutations < 0 {
		return usageErrorf("demo: --users and --messages must be positive, --mutations not negative")
	}
	out := c.Stdout
	warn := slog.New(slog.NewTextHandler(c.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	started := time.Now()

	fmt.Fprintln(out, "graphsync demo: the whole pipeline against the bundled Microsoft Graph emulator")
	fmt.Fprintln(out, "[1/7] PostgreSQL")
	pg, err := pglocal.FromEnv(ctx, pglocal.Options{}, "DATABASE_URL")
	if err != nil {
		return err
	}
	defer pg.Stop()
	db, err := createDemoDatabase(ctx, pg.URL)
	if err != nil {
		return err
	}
	key, _ := store.GenerateKey()
	keys, _ := store.ParseKeyring(key)
	st, err := store.Open(ctx, db, keys)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := store.Migrate(ctx, st.Pool(), nil); err != nil {
		return err
	}
	fmt.Fprintln(out, "      migrated a fresh database (tokens are encrypted with a key generated for this run)")

	fmt.Fprintf(out, "[2/7] Graph emulator: %d users × %d messages\n", *users, *messages)
	redirect, err := freeLoopbackURL("/callback")
	if err != nil {
		return err
	}
	const clientID, secret = "graphsync-demo", "demo-client-secret"
	ecfg := emulator.Config{Seed: *seed, Users: *users, MessagesPerUser: *messages,
		Apps: []emulator.App{{ClientID: clientID, Secret: secret, RedirectURIs: []string{redirect}}}}
	if *throttle {
		ecfg.Throttle.Outlook = emulator.OutlookLimits{Requests: 30, Window: 5 * time.Second, Concurrent: 4}
	}
	em, err := emulator.Start(ecfg)
	if err != nil {
		return err
	}
	defer em.Close()
	fmt.Fprintf(out, "      serving Graph and the identity platform at %s\n", em.URL())

	gcfg := graphsync.ClientConfig{BaseURL: em.URL(), MaxPageSize: 100, Logger: warn}
	if *throttle {
		// The client's limiter follows the service's published limit, here
		// the scaled-down profile, as it follows Outlook's in production.
		gcfg.MailboxRate, gcfg.MailboxBurst = rate.Limit(30.0/5), 4
	}
	gc, err := graphsync.NewClient(gcfg)
	if err != nil {
		return err
	}
	auth := graphsync.AuthConfig{LoginURL: em.URL(), Tenant: "common", ClientID: clientID, ClientSecret: secret, RedirectURL: redirect}

	fmt.Fprintln(out, "[3/7] Connecting every user through the OAuth authorization-code flow with PKCE")
	var conns []*store.Connection
	for _, u := range em.Users() {
		conn, err := connectUser(ctx, st, gc, auth, u.UserPrincipalName)
		if err != nil {
			return fmt.Errorf("connect %s: %w", u.UserPrincipalName, err)
		}
		fmt.Fprintf(out, "      connected %-40s connection %d\n", conn.UserPrincipalName, conn.ID)
		conns = append(conns, conn)
	}

	svc, err := jobs.NewService(jobs.Config{Store: st, Graph: gc, Auth: auth, Logger: warn, DisableScheduler: true,
		PollInterval: 100 * time.Millisecond, SyncWorkers: 10})
	if err != nil {
		return err
	}
	client, err := svc.NewClient(true)
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

	term := isTerminal(out)
	fmt.Fprintln(out, "[4/7] Initial sync")
	t0 := time.Now()
	if _, err := svc.EnqueueSync(ctx, client, 0, nil); err != nil {
		return err
	}
	if err := watchSyncs(ctx, st, out, term); err != nil {
		return err
	}
	initial := time.Since(t0)
	initialRows := countRows(ctx, st, "mail_messages")

	fmt.Fprintf(out, "[5/7] Applying %d changes in Microsoft 365 (new, changed, moved and deleted items of every resource)\n", *mutations)
	em.Mutate(*mutations)
	fmt.Fprintln(out, "[6/7] Incremental sync")
	t1 := time.Now()
	if _, err := svc.EnqueueSync(ctx, client, 0, nil); err != nil {
		return err
	}
	if err := watchSyncs(ctx, st, out, term); err != nil {
		return err
	}
	incremental := time.Since(t1)

	fmt.Fprintln(out, "[7/7] Checking the database against the emulator's ground truth")
	var bad int
	var checked int
	var results []verify.Result
	for _, conn := range conns {
		for _, res := range conn.Resources {
			rs, err := verify.Resource(ctx, st.Pool(), em.URL(), conn.ID, conn.UserID, res)
			if err != nil {
				return err
			}
			results = append(results, rs...)
		}
	}
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

	counters := em.Counters()
	var requests int64
	for _, byStatus := range counters.Requests {
		for _, n := range byStatus {
			requests += n
		}
	}
	fmt.Fprintln(out)
	fmt.Fprintln(out, "Summary")
	w := table(out)
	for _, t := range demoTables(results) {
		live, deleted := liveAndDeleted(ctx, st, t)
		row(w, "  "+t, fmt.Sprintf("%d live", live), fmt.Sprintf("%d deleted", deleted))
	}
	row(w, "  Graph requests", fmt.Sprint(requests), "")
	row(w, "  429/503 throttled, honoured", fmt.Sprint(counters.Throttled+counters.ThrottledUnavailable), fmt.Sprintf("%d sent before Retry-After elapsed", counters.EarlyRetries))
	row(w, "  initial sync", initial.Round(time.Millisecond).String(), fmt.Sprintf("%.0f messages/s", float64(initialRows)/initial.Seconds()))
	row(w, "  incremental sync", incremental.Round(time.Millisecond).String(), "")
	row(w, "  total elapsed", time.Since(started).Round(time.Millisecond).String(), "")
	w.Flush()
	fmt.Fprintln(out)
	if bad > 0 {
		return fmt.Errorf("demo: %d tables differ from the ground truth", bad)
	}
	fmt.Fprintf(out, "OK: the database equals Microsoft 365 (the emulator's ground truth): %d objects checked across %d connections.\n", checked, len(conns))
	return nil
}

func connectUser(ctx context.Context, st *store.Store, gc *graphsync.Client, auth graphsync.AuthConfig, upn string) (*store.Connection, error) {
	return connect.Headless(ctx, connect.Config{Store: st, Graph: gc, Auth: auth, Resources: jobs.Resources, LoginHint: upn})
}

func freeLoopbackURL(path string) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return fmt.Sprintf("http://%s%s", l.Addr().String(), path), nil
}

// createDemoDatabase makes a new database named for this run, so the demo
// never touches existing data on a server from DATABASE_URL.
func createDemoDatabase(ctx context.Context, serverURL string) (string, error) {
	st, err := store.Open(ctx, serverURL, nil)
	if err != nil {
		return "", err
	}
	defer st.Close()
	name := fmt.Sprintf("graphsync_demo_%d", time.Now().Unix())
	if _, err := st.Pool().Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("create demo database: %w", err)
	}
	return pglocal.WithDatabase(serverURL, name), nil
}

func countRows(ctx context.Context, st *store.Store, tableName string) int64 {
	var n int64
	_ = st.Pool().QueryRow(ctx, "SELECT count(*) FROM "+tableName).Scan(&n)
	return n
}

func liveAndDeleted(ctx context.Context, st *store.Store, tableName string) (live, deleted int64) {
	if tableName == "quarantine" {
		return countRows(ctx, st, tableName), 0
	}
	_ = st.Pool().QueryRow(ctx, "SELECT count(*) FILTER (WHERE deleted_at IS NULL), count(*) FILTER (WHERE deleted_at IS NOT NULL) FROM "+tableName).Scan(&live, &deleted)
	return live, deleted
}

// demoTables lists the tables the verification covered, in order of first
// appearance, then the quarantine.
func demoTables(results []verify.Result) []string {
	var out []string
	for _, r := range results {
		if !slices.Contains(out, r.Table) {
			out = append(out, r.Table)
		}
	}
	return append(out, "quarantine")
}
