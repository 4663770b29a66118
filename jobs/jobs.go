package jobs

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

// Queue names. Token refreshes have their own queue so a backlog of syncs
// never delays the refresh that keeps a connection alive.
const (
	QueueTokens = "tokens"
	QueueSync   = "sync"
)

// Config wires the workers to the database, Graph and the identity platform.
type Config struct {
	Store *store.Store
	Graph *graphsync.Client
	// Auth is the app registration; its Tenant is replaced per connection.
	Auth   graphsync.AuthConfig
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
	// ScheduleEvery is the period of the scheduler job.
	ScheduleEvery time.Duration
	// RescueAfter is how long a job may stay running (its worker killed)
	// before River hands it to another worker.
	RescueAfter time.Duration
	// Resources limits which resources this process syncs (all when empty).
	Resources []string
	// DisableScheduler leaves periodic scheduling to other processes or to
	// explicit `graphsync sync` calls (tests use it).
	DisableScheduler bool
	// PollInterval is River's fetch poll interval (0: River's default).
	PollInterval time.Duration

	// CalendarPast and CalendarFuture bound the calendar window around the
	// current day (default one year each way).
	CalendarPast, CalendarFuture time.Duration
	// CalendarRoll is how far the window's start must lag the current day's
	// before the window moves, which costs a full round (default one day).
	CalendarRoll time.Duration
	// CalendarNow is the clock the calendar window follows (time.Now when nil).
	CalendarNow func() time.Time
}

func (c *Config) validate() error {
	switch {
	case c.Store == nil:
		return errors.New("jobs config: Store is nil")
	case c.Graph == nil:
		return errors.New("jobs config: Graph is nil")
	case c.Auth.ClientID == "":
		return errors.New("jobs config: Auth.ClientID is empty")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.SyncInterval <= 0 {
		c.SyncInterval = 5 * time.Minute
	}
	if c.RefreshAhead <= 0 {
		c.RefreshAhead = 10 * time.Minute
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
		c.ScheduleEvery = time.Minute
	}
	if c.CalendarPast <= 0 {
		c.CalendarPast = 365 * 24 * time.Hour
	}
	if c.CalendarFuture <= 0 {
		c.CalendarFuture = 365 * 24 * time.Hour
	}
	if c.CalendarRoll <= 0 {
		c.CalendarRoll = 24 * time.Hour
	}
	if c.CalendarNow == nil {
		c.CalendarNow = time.Now
	}
	if c.RescueAfter <= 0 {
		c.RescueAfter = 2*c.MaxJobDuration + time.Minute
	}
	return nil
}

// Service holds what the workers share within one process.
type Service struct {
	cfg   Config
	store *store.Store
	graph *graphsync.Client
	log   *slog.Logger

	authMu sync.Mutex
	auths  map[string]*graphsync.Auth

	clientProblemMu   sync.Mutex
	clientProblemSeen map[string]time.Time
}

// NewService validates cfg.
func NewService(cfg Config) (*Service, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, store: cfg.Store, graph: cfg.Graph, log: cfg.Logger,
		auths: map[string]*graphsync.Auth{}, clientProblemSeen: map[string]time.Time{}}, nil
}

// NewClient builds the River client that works graphsync's queues. With
// work false it only inserts jobs (for commands such as `graphsync sync`).
func (s *Service) NewClient(work bool) (*river.Client[pgx.Tx], error) {
	rc := &river.Config{
		Logger:               s.log.With("component", "river"),
		JobTimeout:           s.cfg.MaxJobDuration + time.Minute,
		RescueStuckJobsAfter: s.cfg.RescueAfter,
		FetchPollInterval:    s.cfg.PollInterval,
		MaxAttempts:          25,
		Middleware:           []rivertype.Middleware{&logAttrs{}},
	}
	if work {
		workers := river.NewWorkers()
		river.AddWorker(workers, &refreshWorker{svc: s})
		river.AddWorker(workers, &syncWorker{svc: s})
		river.AddWorker(workers, &scheduleWorker{svc: s})
		rc.Workers = workers
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
	client, err := river.NewClient(riverpgxv5.New(s.store.Pool()), rc)
	if err != nil {
		return nil, fmt.Errorf("river client: %w", err)
	}
	return client, nil
}

// uniqueWhileActive makes a job unique per args until it completes, so a
// connection is never refreshed or synced twice at once by any process.
var uniqueWhileActive = river.UniqueOpts{
	ByArgs: true,
	ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
		rivertype.JobStateRetryable, rivertype.JobStateScheduled},
}
