package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"runtime"
	rpprof "runtime/pprof"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/time/rate"

	"github.com/graphsync/graphsync/graph"
	"github.com/graphsync/graphsync/identity"
	"github.com/graphsync/graphsync/internal/config"
	gsworker "github.com/graphsync/graphsync/internal/worker"
	"github.com/graphsync/graphsync/jobs"
	"github.com/graphsync/graphsync/server"
	"github.com/graphsync/graphsync/store"
	"github.com/graphsync/graphsync/syncer"
)

// workerEnv carries a child worker's configuration. It travels in the
// environment, not on the command line, because it holds the client secret
// and the encryption key.
const workerEnv = "GRAPHSYNC_BENCH_WORKER"

// WorkerConfig configures a worker process started by the benchmarks.
type WorkerConfig struct {
	DatabaseURL   string `json:"database_url"`
	GraphURL      string `json:"graph_url"`
	Tenant        string `json:"tenant"`
	ClientID      string `json:"client_id"`
	ClientSecret  string `json:"client_secret"`
	EncryptionKey string `json:"encryption_key"`
	// PageSize is GRAPHSYNC_PAGE_SIZE's value.
	PageSize     string  `json:"page_size"`
	SyncWorkers  int     `json:"sync_workers"`
	MailboxRate  float64 `json:"mailbox_rate,omitempty"`
	MailboxBurst int     `json:"mailbox_burst,omitempty"`
	// NoBatch sends each delta link of an idle pass on its own
	// (syncer.Config.NoBatch); FixedGates keeps every gate at its
	// configured rate and concurrency (graph.Config.FixedGates).
	NoBatch    bool `json:"no_batch,omitempty"`
	FixedGates bool `json:"fixed_gates,omitempty"`
	// EditCheck is how long a chat's messages may go unlisted when no new
	// message shows (syncer.Config.EditCheck); 0 keeps the default.
	EditCheck time.Duration `json:"edit_check,omitempty"`
	// Addr is the loopback address serving /debug/pprof/ and /stats.
	Addr string `json:"addr"`
	// NotifyAddr, when set, turns change notifications on: the endpoint
	// listens there and Graph is told http://NotifyAddr.
	NotifyAddr string `json:"notify_addr,omitempty"`
	// Schedule runs the periodic scheduler (and the subscriptions job) as
	// `graphsync worker` does, with its defaults unless the intervals say
	// otherwise; off, the harness queues every pass itself.
	Schedule           bool          `json:"schedule,omitempty"`
	SyncInterval       time.Duration `json:"sync_interval,omitempty"`
	SubscribedInterval time.Duration `json:"subscribed_interval,omitempty"`
	ScheduleEvery      time.Duration `json:"schedule_every,omitempty"`
	// AttachmentContent keeps attachments' content, up to
	// AttachmentMaxBytes each (syncer.Config).
	AttachmentContent  bool  `json:"attachment_content,omitempty"`
	AttachmentMaxBytes int64 `json:"attachment_max_bytes,omitempty"`
	// CPUProfile and HeapProfile are written when the worker stops.
	CPUProfile  string `json:"cpu_profile,omitempty"`
	HeapProfile string `json:"heap_profile,omitempty"`
}

// workerStats is what a worker's /stats reports.
type workerStats struct {
	Queries int64 `json:"queries"` // statements and COPYs sent to Postgres
}

// queryCounter counts every statement the pool sends, River's included.
type queryCounter struct{ n atomic.Int64 }

func (q *queryCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	q.n.Add(1)
	return ctx
}
func (q *queryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (q *queryCounter) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceCopyFromStartData) context.Context {
	q.n.Add(1)
	return ctx
}
func (q *queryCounter) TraceCopyFromEnd(context.Context, *pgx.Conn, pgx.TraceCopyFromEndData) {}

// RunWorker is the body of a benchmark worker process: the same process
// (internal/worker) and River workers as `graphsync worker`, with its
// pool's statements counted, until ctx ends.
func RunWorker(ctx context.Context) error {
	var cfg WorkerConfig
	if err := json.Unmarshal([]byte(os.Getenv(workerEnv)), &cfg); err != nil {
		return fmt.Errorf("bench worker: %s: %w", workerEnv, err)
	}
	// GRAPHSYNC_BENCH_LOG=info shows the worker's sync log (warnings only by default).
	level := slog.LevelWarn
	if os.Getenv("GRAPHSYNC_BENCH_LOG") == "info" {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return fmt.Errorf("bench worker: %w", err)
		}
		if err := rpprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("bench worker: %w", err)
		}
		defer func() {
			rpprof.StopCPUProfile()
			_ = f.Close()
		}()
	}
	keys, err := store.ParseKeyring(cfg.EncryptionKey)
	if err != nil {
		return err
	}
	pcfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("bench worker: parse database URL: %w", err)
	}
	counter := &queryCounter{}
	pcfg.ConnConfig.Tracer = counter
	pcfg.MaxConns = 20
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return fmt.Errorf("bench worker: %w", err)
	}
	defer pool.Close()
	st := store.New(pool, keys)
	pageSizes, err := (&config.Config{PageSize: cfg.PageSize}).PageSizes()
	if err != nil {
		return fmt.Errorf("bench worker: %w", err)
	}
	gcfg := graph.Config{BaseURL: cfg.GraphURL, Logger: log, FixedGates: cfg.FixedGates}
	if cfg.MailboxRate > 0 {
		gcfg.MailboxRate = rate.Limit(cfg.MailboxRate)
		gcfg.MailboxBurst = cfg.MailboxBurst
	}
	var notifyLn net.Listener
	notifyURL := ""
	if cfg.NotifyAddr != "" {
		if notifyLn, err = server.ListenNotifications(cfg.NotifyAddr); err != nil {
			return err
		}
		defer notifyLn.Close()
		notifyURL = "http://" + notifyLn.Addr().String()
	}
	w, err := gsworker.New(gsworker.Config{Store: st, Logger: log, Graph: gcfg, NotifyURL: notifyURL,
		Engine: syncer.Config{EditCheck: cfg.EditCheck, PageSizes: pageSizes, AttachmentContent: cfg.AttachmentContent,
			AttachmentMaxBytes: cfg.AttachmentMaxBytes, NoBatch: cfg.NoBatch},
		App: identity.Config{LoginURL: cfg.GraphURL, Tenant: cfg.Tenant, ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret,
			RedirectURL: "http://127.0.0.1:1/callback"},
		Jobs: jobs.Config{DisableScheduler: !cfg.Schedule, SyncWorkers: cfg.SyncWorkers, PollInterval: 100 * time.Millisecond,
			MaxJobDuration: 10 * time.Minute, SyncInterval: cfg.SyncInterval, SubscribedInterval: cfg.SubscribedInterval,
			ScheduleEvery: cfg.ScheduleEvery}})
	if err != nil {
		return err
	}
	svc := w.Jobs
	client, err := svc.NewClient(true)
	if err != nil {
		return err
	}
	if notifyLn != nil {
		endpoint := server.StartNotifications(notifyLn, w.Receiver(client), log)
		defer endpoint.Close()
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(workerStats{Queries: counter.n.Load()})
	})
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("bench worker: listen: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	if err := client.Start(ctx); err != nil {
		return fmt.Errorf("bench worker: start: %w", err)
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := client.Stop(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Warn("stop workers", "error", err)
	}
	if cfg.HeapProfile != "" {
		runtime.GC()
		f, err := os.Create(cfg.HeapProfile)
		if err == nil {
			_ = rpprof.WriteHeapProfile(f)
			_ = f.Close()
		}
	}
	return nil
}

// ProfileCPU writes this process's CPU profile to path until stop is called.
func ProfileCPU(path string) (stop func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := rpprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		rpprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}
