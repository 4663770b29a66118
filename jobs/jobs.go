package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
	"github.com/graphsync/graphsync/syncer"
	"github.com/graphsync/graphsync/token"
)

// Queue names. Token refreshes have their own queue so a backlog of syncs
// never delays the refresh that keeps a connection alive.
const (
	QueueTokens = "tokens"
	QueueSync   = "sync"
)

// Syncer syncs one mailbox: the sync engine.
type Syncer interface {
	Sync(ctx context.Context, req syncer.Request) (syncer.Outcome, error)
}

// Refresher refreshes a connection's access token: the token source.
type Refresher interface {
	Refresh(ctx context.Context, connectionID int64, rejected string) (string, error)
}

// Config wires the workers to the database, the sync engine and the token
// source.
type Config struct {
	Store  *store.Store
	Engine Syncer
	Tokens Refresher
	Logger *slog.Logger

	// SyncInterval is how often each connection's resources are synced.
	SyncInterval time.Duration
	// RefreshAhead is how long before expiry an access token is refreshed.
	RefreshAhead time.Duration
	// MaxJobDuration bounds one sync job; a longer sync checkpoints and
	// continues in a new job so one mailbox cannot hold a worker for hours.
	MaxJobDuration time.Duration
	// SyncWorkers and TokenWorkers size the queues of this process.
	SyncWorkers, TokenWorkers int
	// ScheduleEvery is the period of the scheduler job (default a minute,
	// or SyncInterval when shorter): each run schedules the syncs due
	// before the next, at the moment each is due.
	ScheduleEvery time.Duration
	// RescueAfter is how long a job may stay running (its worker killed)
	// before River hands it to another worker.
	RescueAfter time.Duration
	// Resources limits which resources this process schedules (all when
	// empty).
	Resources []*graphsync.Resource
	// DisableScheduler leaves periodic scheduling to other processes or to
	// explicit `graphsync sync` calls (tests use it).
	DisableScheduler bool
	// PollInterval is River's fetch poll interval (0: River's default).
	PollInterval time.Duration
}

func (c *Config) validate() error {
	switch {
	case c.Store == nil:
		return errors.New("jobs config: Store is nil")
	case c.Engine == nil:
		return errors.New("jobs config: Engine is nil")
	case c.Tokens == nil:
		return errors.New("jobs config: Tokens is nil")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.SyncInterval <= 0 {
		c.SyncInterval = 5 * time.Minute
	}
	if c.SyncInterval < MinSyncInterval {
		return fmt.Errorf("jobs config: SyncInterval %s is shorter than %s, the shortest the scheduler keeps", c.SyncInterval, MinSyncInterval)
	}
	if c.RefreshAhead <= 0 {
		c.RefreshAhead = token.DefaultRefreshAhead
	}
	if c.MaxJobDuration <= 0 {
		c.MaxJobDuration = 5 * time.Minute
	}
	if c.SyncWorkers <= 0 {
		c.SyncWorkers = 20
	}
	if c.TokenWorkers <= 0 {
		c.TokenWorkers = 5
	}
	if c.ScheduleEvery <= 0 {
		c.ScheduleEvery = min(time.Minute, c.SyncInterval)
	}
	if c.RescueAfter <= 0 {
		c.RescueAfter = 2*c.MaxJobDuration + time.Minute
	}
	return nil
}

// MinSyncInterval is the shortest sync interval the scheduler keeps: River
// makes a scheduled job available within about 5 seconds of its time, so a
// shorter interval could not be honoured.
const MinSyncInterval = 10 * time.Second

// Service holds what the workers share within one process.
type Service struct {
	cfg   Config
	store *store.Store
	log   *slog.Logger
}

// NewService validates cfg.
func NewService(cfg Config) (*Service, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, store: cfg.Store, log: cfg.Logger}, nil
}

// NewClient builds the River client that works graphsync's queues. With
// work false it only inserts jobs (for commands such as `graphsync sync`).
func (s *Service) NewClient(work bool) (*river.Client[store.Tx], error) {
	rc := &river.Config{
		Logger:               slog.New(newQuietHandler(s.log.Handler(), riverLogEvery)).With("component", "river"),
		JobTimeout:           s.cfg.MaxJobDuration + time.Minute,
		RescueStuckJobsAfter: s.cfg.RescueAfter,
		FetchPollInterval:    s.cfg.PollInterval,
		MaxAttempts:          25,
		Middleware:           []rivertype.Middleware{&logAttrs{}},
	}
	if work {
		rc.Workers = s.workers()
		rc.Queues = map[string]river.QueueConfig{
			QueueTokens: {MaxWorkers: s.cfg.TokenWorkers},
			QueueSync:   {MaxWorkers: s.cfg.SyncWorkers},
		}
		if !s.cfg.DisableScheduler {
			rc.PeriodicJobs = []*river.PeriodicJob{
				river.NewPeriodicJob(river.PeriodicInterval(s.cfg.ScheduleEvery),
					func() (river.JobArgs, *river.InsertOpts) { return ScheduleArgs{}, nil },
					&river.PeriodicJobOpts{RunOnStart: true}),
			}
		}
	}
	client, err := river.NewClient(s.store.RiverDriver(), rc)
	if err != nil {
		return nil, fmt.Errorf("river client: %w", err)
	}
	return client, nil
}

// workers are the job kinds this process works.
func (s *Service) workers() *river.Workers {
	workers := river.NewWorkers()
	river.AddWorker(workers, &refreshWorker{svc: s})
	river.AddWorker(workers, &syncWorker{svc: s})
	river.AddWorker(workers, &scheduleWorker{svc: s})
	return workers
}

// SyncWorker is the worker of SyncArgs, for tests that work one job
// (rivertest).
func (s *Service) SyncWorker() river.Worker[SyncArgs] { return &syncWorker{svc: s} }

// uniqueWhileActive makes a job unique per args until it completes, so a
// connection is never refreshed or synced twice at once by any process.
var uniqueWhileActive = river.UniqueOpts{
	ByArgs: true,
	ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
		rivertype.JobStateRetryable, rivertype.JobStateScheduled},
}

// clientFrom returns the River client working the job ctx belongs to.
func clientFrom(ctx context.Context) (*river.Client[store.Tx], error) {
	c, err := river.ClientFromContextSafely[store.Tx](ctx)
	if err != nil {
		return nil, fmt.Errorf("no River client in context: %w", err)
	}
	return c, nil
}
