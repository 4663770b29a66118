package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/config"
	"github.com/graphsync/graphsync/jobs"
	"github.com/graphsync/graphsync/store"
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
	cfg, err := c.load(fs, args, config.Need{Database: true, Keys: true, App: true})
	if err != nil {
		return err
	}
	if err := wantArgs(fs, 0, ""); err != nil {
		return err
	}
	log := newLogger(cfg, c.Stderr)
	st, err := openStore(ctx, cfg, true)
	if err != nil {
		return err
	}
	defer st.Close()
	if *migrate {
		if _, err := store.Migrate(ctx, st.Pool(), log); err != nil {
			return err
		}
	}
	svc, _, err := newService(cfg, st, log, func(jc *jobs.Config) {
		jc.SyncWorkers = *syncWorkers
		jc.DisableScheduler = *noSchedule
	})
	if err != nil {
		return err
	}
	return runWorker(ctx, svc, st, cfg.HTTPAddr, log)
}

// runWorker works the queues and serves /healthz, /readyz and /metrics
// until ctx ends, then lets running jobs finish (or snooze) for up to 30 s.
func runWorker(ctx context.Context, svc *jobs.Service, st *store.Store, addr string, log *slog.Logger) error {
	client, err := svc.NewClient(true)
	if err != nil {
		return err
	}
	if addr != "" {
		srv, err := serveHTTP(addr, st)
		if err != nil {
			return err
		}
		defer srv.Close()
		log.Info("worker HTTP endpoints", "addr", addr, "paths", "/healthz /readyz /metrics")
	}
	if err := client.Start(ctx); err != nil {
		return fmt.Errorf("start workers: %w", err)
	}
	log.Info("worker started")
	<-ctx.Done()
	log.Info("worker stopping: finishing running jobs")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := client.Stop(sctx); err != nil {
		// Jobs still running are cancelled; their checkpoints are committed
		// and they snooze to resume at once in another process.
		_ = client.StopAndCancel(context.Background())
	}
	log.Info("worker stopped")
	return nil
}

func serveHTTP(addr string, st *store.Store) (*http.Server, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := st.Pool().Ping(ctx); err != nil {
			http.Error(w, "database unreachable", http.StatusServiceUnavailable)
			return
		}
		pending, err := store.Pending(ctx, st.Pool())
		if err != nil {
			http.Error(w, "cannot read migrations", http.StatusServiceUnavailable)
			return
		}
		if len(pending) > 0 {
			http.Error(w, "migrations pending: "+strings.Join(pending, ", "), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("/metrics", promhttp.Handler())
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on GRAPHSYNC_HTTP_ADDR %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("worker HTTP server", "error", err)
		}
	}()
	return srv, nil
}

// newService builds the Graph client and the jobs service from the config.
func newService(cfg *config.Config, st *store.Store, log *slog.Logger, tune func(*jobs.Config)) (*jobs.Service, *graphsync.Client, error) {
	secret, err := cfg.Secret()
	if err != nil {
		return nil, nil, &usageError{err}
	}
	gc, err := graphsync.NewClient(graphsync.ClientConfig{BaseURL: cfg.GraphURL, MaxPageSize: 100, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	jc := jobs.Config{
		Store: st, Graph: gc, Logger: log, SyncInterval: cfg.SyncInterval,
		Auth: graphsync.AuthConfig{LoginURL: cfg.LoginURL, Tenant: cfg.Tenant, ClientID: cfg.ClientID, ClientSecret: secret, RedirectURL: cfg.RedirectURL},
	}
	if tune != nil {
		tune(&jc)
	}
	svc, err := jobs.NewService(jc)
	if err != nil {
		return nil, nil, err
	}
	return svc, gc, nil
}

// newLogger builds the slog logger GRAPHSYNC_LOG_FORMAT and _LEVEL ask for.
func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
