package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/riverqueue/river"
	"riverqueue.com/riverui"

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
		srv, err := servePprof(*pprofAddr)
		if err != nil {
			return err
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
	return runWorker(ctx, svc, st, cfg, log)
}

// runWorker works the queues and serves the worker's HTTP endpoints until
// ctx ends, then lets running jobs finish (or snooze) for up to 30 s.
func runWorker(ctx context.Context, svc *jobs.Service, st *store.Store, cfg *config.Config, log *slog.Logger) error {
	client, err := svc.NewClient(true)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs.ObserveJobs(ctx, client)
	if cfg.HTTPAddr != "" {
		srv, err := serveHTTP(ctx, cfg, st, client, log)
		if err != nil {
			return err
		}
		defer srv.Close()
	}
	if err := client.Start(ctx); err != nil {
		return fmt.Errorf("start workers: %w", err)
	}
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

// riverUIPrefix is where River UI is mounted on the worker's HTTP address.
const riverUIPrefix = "/riverui"

// serveHTTP serves /healthz (the process is alive), /readyz (the database
// answers and no migration is pending), /metrics, and River UI behind the
// admin token. It refuses to serve River UI unprotected off loopback.
func serveHTTP(ctx context.Context, cfg *config.Config, st *store.Store, client *river.Client[pgx.Tx], log *slog.Logger) (*http.Server, error) {
	withUI, err := cfg.RiverUIEnabled()
	if err != nil {
		return nil, &usageError{err}
	}
	if withUI && cfg.UIToken == "" && !isLoopback(cfg.HTTPAddr) {
		return nil, usageErrorf("GRAPHSYNC_HTTP_ADDR %s is not a loopback address, so River UI needs GRAPHSYNC_UI_TOKEN to protect it (or set GRAPHSYNC_RIVER_UI=false)", cfg.HTTPAddr)
	}
	expiry, err := cfg.SecretExpiry()
	if err != nil {
		return nil, &usageError{err}
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := ready(r.Context(), st); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})

	// The database gauges are registered per server, not globally, so
	// that several workers in one process (tests) each export their own.
	reg := prometheus.NewRegistry()
	if err := reg.Register(jobs.NewGauges(jobs.GaugesConfig{Store: st, Logger: log, SecretExpiresAt: expiry})); err != nil {
		return nil, fmt.Errorf("register database gauges: %w", err)
	}
	mux.Handle("/metrics", promhttp.HandlerFor(prometheus.Gatherers{prometheus.DefaultGatherer, reg},
		promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelError), ErrorHandling: promhttp.ContinueOnError}))

	paths := "/healthz /readyz /metrics"
	if withUI {
		ui, err := riverui.NewHandler(&riverui.HandlerOpts{
			Endpoints: riverui.NewEndpoints(client, nil),
			Logger:    log.With("component", "riverui"),
			Prefix:    riverUIPrefix,
			// Job args name connections, not secrets, but they are
			// nobody's business at a glance.
			JobListHideArgsByDefault: true,
		})
		if err != nil {
			return nil, fmt.Errorf("river UI: %w", err)
		}
		if err := ui.Start(ctx); err != nil {
			return nil, fmt.Errorf("start river UI: %w", err)
		}
		mux.Handle(riverUIPrefix+"/", requireToken(cfg.UIToken, ui))
		paths += " " + riverUIPrefix + "/"
		if cfg.UIToken == "" {
			log.Warn("River UI is unprotected: set GRAPHSYNC_UI_TOKEN", "addr", cfg.HTTPAddr)
		}
	}

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("listen on GRAPHSYNC_HTTP_ADDR %s: %w", cfg.HTTPAddr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("worker HTTP server", "error", err)
		}
	}()
	log.Info("worker HTTP endpoints", "addr", ln.Addr().String(), "paths", paths)
	return srv, nil
}

// ready says why the worker cannot do its job yet, or nil.
func ready(ctx context.Context, st *store.Store) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := st.Pool().Ping(ctx); err != nil {
		return errors.New("database unreachable")
	}
	pending, err := store.Pending(ctx, st.Pool())
	if err != nil {
		return errors.New("cannot read migrations")
	}
	if len(pending) > 0 {
		return errors.New("migrations pending: " + strings.Join(pending, ", "))
	}
	return nil
}

// requireToken lets a request through when it carries token as a bearer
// token or as the password of HTTP basic auth (what a browser can send);
// an empty token lets everything through. Comparison is in constant time.
func requireToken(token string, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := ""
		if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			got = v
		} else if _, pw, ok := r.BasicAuth(); ok {
			got = pw
		}
		// Hashing first makes the comparison independent of the length.
		sum := sha256.Sum256([]byte(got))
		if got == "" || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="graphsync", charset="UTF-8"`)
			http.Error(w, "unauthorized: send GRAPHSYNC_UI_TOKEN as a bearer token or basic-auth password", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// isLoopback reports whether a host:port listens on loopback only.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// servePprof serves the profiling endpoints on their own listener, which
// must be loopback: profiles reveal memory contents.
func servePprof(addr string) (*http.Server, error) {
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return nil, &usageError{fmt.Errorf("--pprof %q is not a loopback host:port such as 127.0.0.1:6060", addr)}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on --pprof %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return srv, nil
}

// newService builds the Graph client and the jobs service from the config.
func newService(cfg *config.Config, st *store.Store, log *slog.Logger, tune func(*jobs.Config)) (*jobs.Service, *graphsync.Client, error) {
	secret, err := cfg.Secret()
	if err != nil {
		return nil, nil, &usageError{err}
	}
	gc, err := graphsync.NewClient(graphsync.ClientConfig{BaseURL: cfg.GraphURL, MaxPageSize: 100, Logger: log, Timeout: cfg.GraphTimeout})
	if err != nil {
		return nil, nil, err
	}
	jc := jobs.Config{
		Store: st, Graph: gc, Logger: log, SyncInterval: cfg.SyncInterval,
		CalendarPast: cfg.CalendarPast, CalendarFuture: cfg.CalendarFuture,
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
