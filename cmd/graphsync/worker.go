package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/time/rate"

	"github.com/graphsync/graphsync/api"
	"github.com/graphsync/graphsync/graph"
	"github.com/graphsync/graphsync/identity"
	"github.com/graphsync/graphsync/internal/config"
	"github.com/graphsync/graphsync/internal/worker"
	"github.com/graphsync/graphsync/jobs"
	"github.com/graphsync/graphsync/server"
	"github.com/graphsync/graphsync/store"
	"github.com/graphsync/graphsync/syncer"
)

// WorkerCommand runs River workers: token refreshes, scheduling and syncs.
type WorkerCommand struct{ *Main }

func (c *WorkerCommand) Run(ctx context.Context, args []string) error {
	fs := c.flagSet("worker", "worker [flags]",
		"Work graphsync's River queues until SIGTERM: refresh tokens, schedule and run syncs.\n"+
			"Run more worker processes on the same database to scale out.")
	syncWorkers := fs.Int("sync-workers", 20, "sync jobs run at once by this process")
	migrate := fs.Bool("migrate", true, "apply pending migrations at start (serialised across processes)")
	noSchedule := fs.Bool("no-schedule", false, "do not run the periodic scheduler in this process")
	pprofAddr := fs.String("pprof", "", "serve net/http/pprof on this loopback address (e.g. 127.0.0.1:6060)")
	graphTimeout := fs.Duration("graph-timeout", 100*time.Second, "give up on one Graph request after this long (then retry it)")
	cfg, err := c.load(fs, args, config.Need{Database: true, Keys: true, App: true})
	if err != nil {
		return err
	}
	if *graphTimeout <= 0 {
		return usageErrorf("worker: --graph-timeout must be positive")
	}
	cfg.GraphTimeout = *graphTimeout
	if err := wantArgs(fs, 0, ""); err != nil {
		return err
	}
	log := newLogger(cfg, c.Stderr)
	if *pprofAddr != "" {
		srv, err := server.StartPprof(*pprofAddr)
		if err != nil {
			return serverError(err)
		}
		defer srv.Close()
		log.Info("pprof endpoints", "addr", *pprofAddr, "path", "/debug/pprof/")
	}
	st, err := openStore(ctx, cfg, true)
	if err != nil {
		return err
	}
	defer st.Close()
	if *migrate {
		if _, err := st.Migrate(ctx, log); err != nil {
			return err
		}
	}
	w, err := newWorker(cfg, st, log, func(wc *worker.Config) {
		wc.Jobs.SyncWorkers = *syncWorkers
		wc.Jobs.DisableScheduler = *noSchedule
	})
	if err != nil {
		return err
	}
	return runWorker(ctx, w, cfg, log)
}

// runWorker works the queues and serves the worker's HTTP endpoints until
// ctx ends, then lets running jobs finish (or snooze) for up to 30 s.
func runWorker(ctx context.Context, w *worker.Worker, cfg *config.Config, log *slog.Logger) error {
	client, err := w.Jobs.NewClient(true)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs.ObserveJobs(ctx, client)
	if cfg.HTTPAddr != "" {
		withUI, err := cfg.RiverUIEnabled()
		if err != nil {
			return &usageError{err}
		}
		expiry, _, err := cfg.CredentialExpiry()
		if err != nil {
			return &usageError{err}
		}
		apps, err := w.API(client, api.Config{PublicURL: cfg.APIURL, ReturnURLs: cfg.ReturnURLs(), MaxWait: cfg.APIMaxWait})
		if err != nil {
			return &usageError{err}
		}
		sc := server.Config{Addr: cfg.HTTPAddr, Store: w.Store, UIToken: cfg.UIToken, SecretExpiresAt: expiry, API: apps, Logger: log}
		if withUI {
			sc.River = client
		}
		srv, err := server.Start(ctx, sc)
		if err != nil {
			return serverError(err)
		}
		defer srv.Close()
	}
	if !waitMigrated(ctx, w.Store, log) {
		return nil // stopped while waiting
	}
	// After the migrations: the endpoint reads the subscriptions table.
	if w.Notify != nil {
		ln, err := server.ListenNotifications(cfg.NotifyAddr)
		if err != nil {
			return err
		}
		srv := server.StartNotifications(ln, w.Receiver(client), log)
		defer srv.Close()
	}
	if err := client.Start(ctx); err != nil {
		return fmt.Errorf("start workers: %w", err)
	}
	go w.Jobs.KickWebhooks(ctx, client)
	go w.PublishGates(ctx)
	log.Info("worker started")
	<-ctx.Done()
	log.Info("worker stopping: finishing running jobs")
	sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer scancel()
	if err := client.Stop(sctx); err != nil {
		// Jobs still running are cancelled; their checkpoints are committed
		// and they snooze to resume at once in another process.
		_ = client.StopAndCancel(context.Background())
	}
	log.Info("worker stopped")
	return nil
}

// waitMigrated holds the worker back while migrations are pending (started
// with --migrate=false before the deploy step applied them): jobs written
// for the new schema must not run on the old one. It logs an error at once
// and every minute, while /readyz answers 503, and reports false when ctx
// ends first.
func waitMigrated(ctx context.Context, st *store.Store, log *slog.Logger) bool {
	var logged time.Time
	for {
		pending, err := st.Pending(ctx)
		switch {
		case err == nil && len(pending) == 0:
			if !logged.IsZero() {
				log.Info("migrations applied; starting work")
			}
			return true
		case time.Since(logged) >= time.Minute:
			logged = time.Now()
			if err != nil {
				log.Error("cannot read the applied migrations; not working until it can", "error", err)
			} else {
				log.Error("the database has pending migrations; this worker does no work until they are applied (run `graphsync migrate`)",
					"pending", pending)
			}
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(2 * time.Second):
		}
	}
}

// serverError makes the server's configuration errors usage errors.
func serverError(err error) error {
	if errors.Is(err, server.ErrConfig) {
		return &usageError{err}
	}
	return err
}

// newWorker assembles the process's parts from the configuration.
func newWorker(cfg *config.Config, st *store.Store, log *slog.Logger, tune func(*worker.Config)) (*worker.Worker, error) {
	secret, cert, err := cfg.Credentials()
	if err != nil {
		return nil, &usageError{err}
	}
	pageSizes, err := cfg.PageSizes()
	if err != nil {
		return nil, &usageError{err}
	}
	wc := worker.Config{
		Store:  st,
		Logger: log,
		Graph:  graph.Config{BaseURL: cfg.GraphURL, Timeout: cfg.GraphTimeout},
		App: identity.Config{LoginURL: cfg.LoginURL, Tenant: cfg.Tenant, ClientID: cfg.ClientID, ClientSecret: secret,
			Certificate: cert, GraphURL: cfg.GraphURL,
			RedirectURL: cfg.RedirectURL},
		Engine: syncer.Config{CalendarPast: cfg.CalendarPast, CalendarFuture: cfg.CalendarFuture, PageSizes: pageSizes,
			ReconcileEvery: cfg.ReconcileEvery},
		Jobs:      cfg.Jobs(),
		NotifyURL: cfg.NotifyURL,
	}
	if wc.Jobs.PruneConsumed, err = cfg.PruneConsumed(); err != nil {
		return nil, &usageError{err}
	}
	if wc.Engine.Sites, err = cfg.SelectedSites(); err != nil {
		return nil, &usageError{err}
	}
	if wc.Engine.AttachmentContent, wc.Engine.AttachmentMaxBytes, err = cfg.Attachments(); err != nil {
		return nil, &usageError{err}
	}
	budgets, err := cfg.Budgets()
	if err != nil {
		return nil, &usageError{err}
	}
	wc.Graph.TenantRate, wc.Graph.DriveUnitsPerMinute = rate.Limit(budgets.TeamsPerSecond), budgets.DriveUnitsPerMinute
	wc.Graph.DirectoryUnitsPer10s = budgets.DirectoryUnitsPer10s
	if tune != nil {
		tune(&wc)
	}
	return worker.New(wc)
}
