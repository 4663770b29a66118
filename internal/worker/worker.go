// Package worker assembles the parts of a graphsync process from their
// configurations: the Graph client, the token source, the sync engine and
// the jobs service, wired to one store. The worker command, the other
// commands that sync or hand out tokens, the demo, the benchmarks and the
// tests all build their process here, so that they run the same thing.
package worker

import (
	"context"
	"log/slog"
	"time"

	"github.com/graphsync/graphsync/api"
	"github.com/graphsync/graphsync/graph"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/identity"
	"github.com/graphsync/graphsync/jobs"
	"github.com/graphsync/graphsync/notify"
	"github.com/graphsync/graphsync/store"
	"github.com/graphsync/graphsync/syncer"
	"github.com/graphsync/graphsync/token"
	"github.com/riverqueue/river"
)

// Config is what a process is built from. Graph, Engine and Jobs take their
// packages' configurations; the store, the logger and the parts built here
// are filled in.
type Config struct {
	Store  *store.Store
	Logger *slog.Logger
	Graph  graph.Config
	// App is the app registration; its Tenant is replaced per connection.
	App    identity.Config
	Engine syncer.Config
	Jobs   jobs.Config
	// NotifyURL is the public base URL Graph posts change notifications to;
	// empty leaves notifications off (every resource is polled).
	NotifyURL string
}

// Worker is an assembled process.
type Worker struct {
	Store  *store.Store
	Graph  *graph.Client
	Tokens *token.Source
	Engine *syncer.Engine
	Jobs   *jobs.Service
	// Notify keeps the change-notification subscriptions; nil when
	// notifications are off.
	Notify *notify.Manager
	log    *slog.Logger
	app    identity.Config
}

// Receiver is the endpoint Graph posts notifications to, queueing jobs
// through client.
func (w *Worker) Receiver(client *river.Client[store.Tx]) *notify.Receiver {
	return notify.NewReceiver(w.Store, queue{w.Jobs, client}, w.log)
}

// queue is the Receiver's way to the jobs.
type queue struct {
	jobs   *jobs.Service
	client *river.Client[store.Tx]
}

func (q queue) Sync(ctx context.Context, conn int64, user string, r *graphsync.Resource, at time.Time) error {
	return q.jobs.EnqueueNotified(ctx, q.client, conn, user, r, at)
}

func (q queue) Reconcile(ctx context.Context) error {
	return q.jobs.EnqueueSubscriptions(ctx, q.client)
}

// API is the API for apps of this process, queueing the syncs its proxy
// asks for through client; cfg gives the API's own settings, the rest is
// filled in.
func (w *Worker) API(client *river.Client[store.Tx], cfg api.Config) (*api.API, error) {
	cfg.Store, cfg.Tokens, cfg.Graph, cfg.App = w.Store, w.Tokens, w.Graph, w.app
	cfg.Sync = queue{w.Jobs, client}
	if cfg.Logger == nil {
		cfg.Logger = w.log
	}
	return api.New(cfg)
}

// New builds a Worker.
func New(cfg Config) (*Worker, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Graph.Logger == nil {
		cfg.Graph.Logger = log
	}
	if cfg.Graph.Budgets == nil && cfg.Store != nil {
		// Every process draws the tenants' Teams and OneDrive budgets
		// from the same buckets.
		cfg.Graph.Budgets = cfg.Store
	}
	gc, err := graph.NewClient(cfg.Graph)
	if err != nil {
		return nil, err
	}
	tokens, err := token.New(token.Config{Store: cfg.Store, Graph: gc, App: cfg.App, Logger: log,
		RefreshAhead: cfg.Jobs.RefreshAhead, Scheduled: jobs.ScheduleRefresh(refreshAhead(cfg.Jobs))})
	if err != nil {
		return nil, err
	}
	ec := cfg.Engine
	ec.Store, ec.Graph, ec.Tokens, ec.Logger = cfg.Store, gc, tokens, log
	if ec.EditCheck == 0 {
		// Edits of older chat messages are found within one sync interval.
		ec.EditCheck = cfg.Jobs.SyncInterval
	}
	engine, err := syncer.New(ec)
	if err != nil {
		return nil, err
	}
	var manager *notify.Manager
	if cfg.NotifyURL != "" {
		if manager, err = notify.NewManager(notify.Config{Store: cfg.Store, Graph: gc, Tokens: tokens, URL: cfg.NotifyURL, Logger: log,
			Now: cfg.Engine.Now}); err != nil {
			return nil, err
		}
	}
	jc := cfg.Jobs
	jc.Store, jc.Engine, jc.Tokens, jc.Logger = cfg.Store, engine, tokens, log
	if manager != nil {
		jc.Subscriptions = manager
	}
	svc, err := jobs.NewService(jc)
	if err != nil {
		return nil, err
	}
	return &Worker{Store: cfg.Store, Graph: gc, Tokens: tokens, Engine: engine, Jobs: svc, Notify: manager, log: log, app: cfg.App}, nil
}

// refreshAhead is the margin the token source and the scheduler share.
func refreshAhead(jc jobs.Config) time.Duration {
	if jc.RefreshAhead > 0 {
		return jc.RefreshAhead
	}
	return token.DefaultRefreshAhead
}
