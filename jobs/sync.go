package jobs

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

// SyncArgs syncs one resource of one connection.
type SyncArgs struct {
	ConnectionID int64  `json:"connection_id" river:"unique"`
	Resource     string `json:"resource" river:"unique"`
}

// Kind is River's name for the job.
func (SyncArgs) Kind() string { return "graphsync_sync" }

// InsertOpts keeps one sync per connection and resource pending or running.
func (SyncArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueSync, UniqueOpts: uniqueWhileActive}
}

// Resources graphsync knows how to sync, in the order they are scheduled.
var Resources = []string{"mail"}

type syncFunc func(ctx context.Context, r *run) error

var syncers = map[string]syncFunc{
	"mail": syncMail,
}

// errContinue says a job reached its time budget with work left; its
// checkpoints are committed and a new job picks up.
var errContinue = errors.New("time budget reached; continuing in a new job")

type syncWorker struct {
	river.WorkerDefaults[SyncArgs]
	svc *Service
}

func (w *syncWorker) Timeout(*river.Job[SyncArgs]) time.Duration {
	return w.svc.cfg.MaxJobDuration + time.Minute
}

func (w *syncWorker) Work(ctx context.Context, job *river.Job[SyncArgs]) error {
	s := w.svc
	args := job.Args
	fn, ok := syncers[args.Resource]
	if !ok {
		return river.JobCancel(fmt.Errorf("sync connection %d: unknown resource %q", args.ConnectionID, args.Resource))
	}
	conn, err := s.store.Connection(ctx, args.ConnectionID)
	if errors.Is(err, store.ErrNotFound) {
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	if conn.Status != store.StatusActive || !slices.Contains(conn.Resources, args.Resource) {
		return nil
	}
	top := store.Stream{ConnectionID: conn.ID, Resource: args.Resource}
	log := s.log.With("connection_id", conn.ID, "resource", args.Resource)

	r := &run{svc: s, conn: conn, resource: args.Resource, userID: conn.UserID,
		deadline: time.Now().Add(s.cfg.MaxJobDuration), passStart: job.CreatedAt, log: log}
	if until, err := s.store.ThrottledUntil(ctx, r.throttleScope()); err != nil {
		return err
	} else if d := time.Until(until); d > 0 {
		s.graph.Block(r.userID, until)
		syncRuns.WithLabelValues(args.Resource, "throttled").Inc()
		return river.JobSnooze(d)
	}

	start := time.Now()
	err = fn(ctx, r)
	syncDuration.WithLabelValues(args.Resource).Observe(time.Since(start).Seconds())

	var reauth *reauthError
	var cp *clientProblemError
	retryAfter, throttled := graphsync.IsThrottled(err)
	switch {
	case err == nil:
		if err := s.store.Tx(ctx, func(tx pgx.Tx) error {
			return s.store.FinishRoundTx(ctx, tx, top, "", store.Progress{})
		}); err != nil {
			return err
		}
		syncRuns.WithLabelValues(args.Resource, "ok").Inc()
		log.InfoContext(ctx, "sync complete", "duration", time.Since(start).Round(time.Millisecond))
		return nil
	case errors.Is(err, errContinue):
		syncRuns.WithLabelValues(args.Resource, "continued").Inc()
		return river.JobSnooze(0)
	case throttled:
		until := time.Now().Add(retryAfter)
		if err := s.store.SetThrottle(ctx, r.throttleScope(), until, "Retry-After from Graph"); err != nil {
			return err
		}
		syncRuns.WithLabelValues(args.Resource, "throttled").Inc()
		log.InfoContext(ctx, "throttled by Graph; snoozing", "retry_after", retryAfter)
		return river.JobSnooze(retryAfter)
	case errors.As(err, &reauth), errors.Is(err, errNotActive):
		syncRuns.WithLabelValues(args.Resource, "reauth").Inc()
		return nil
	case errors.As(err, &cp):
		syncRuns.WithLabelValues(args.Resource, "error").Inc()
		return river.JobSnooze(5 * time.Minute)
	case graphsync.IsForbidden(err):
		scope := graphsync.RequiredScope(graphsync.Resource(args.Resource))
		syncRuns.WithLabelValues(args.Resource, "missing_scope").Inc()
		log.WarnContext(ctx, "Graph refused the resource: missing permission", "scope", scope, "error", err)
		return s.store.RecordStreamError(ctx, top, store.StreamMissingScope, err.Error(), scope)
	case ctx.Err() != nil:
		// Shutting down: checkpoints are committed; resume at once elsewhere.
		syncRuns.WithLabelValues(args.Resource, "continued").Inc()
		return river.JobSnooze(0)
	default:
		syncRuns.WithLabelValues(args.Resource, "error").Inc()
		log.ErrorContext(ctx, "sync failed", "error", err)
		if rerr := s.store.RecordStreamError(context.WithoutCancel(ctx), top, store.StreamError, err.Error(), ""); rerr != nil {
			log.ErrorContext(ctx, "record sync error", "error", rerr)
		}
		return err
	}
}

// run is one sync job's context: the connection, its token and time budget.
type run struct {
	svc      *Service
	conn     *store.Connection
	resource string
	userID   string
	deadline time.Time
	// passStart is when the job was enqueued. A job snoozed by throttling
	// or its time budget runs again with the same passStart; streams that
	// finished a round since then are not synced again in this pass.
	passStart time.Time
	log       interface {
		InfoContext(context.Context, string, ...any)
		WarnContext(context.Context, string, ...any)
		ErrorContext(context.Context, string, ...any)
	}
	// token is shared by the goroutines syncing a connection's containers;
	// tokenMu guards it.
	tokenMu sync.Mutex
	token   string
}

func (r *run) currentToken() string {
	r.tokenMu.Lock()
	defer r.tokenMu.Unlock()
	return r.token
}

func (r *run) setToken(tok string) {
	r.tokenMu.Lock()
	r.token = tok
	r.tokenMu.Unlock()
}

// throttleScope names the mailbox (or tenant) whose Retry-After windows the
// job shares with every other process.
func (r *run) throttleScope() string {
	return "mailbox:" + r.conn.TenantID + "/" + r.userID
}

// userPath is the Graph path of the synced user: /me for delegated
// connections, /users/{id} for application ones.
func (r *run) userPath() string {
	if r.conn.Kind == store.KindApplication {
		return "/users/" + url.PathEscape(r.userID)
	}
	return "/me"
}

func (r *run) call(service graphsync.Service, token string) graphsync.Call {
	return graphsync.Call{Token: token, Mailbox: r.userID, Tenant: r.conn.TenantID, Service: service,
		Resource: r.resource, ImmutableIDs: true}
}

// getPage fetches one page, refreshing the access token once when Graph
// answers 401 (it expired or was revoked mid-sync).
func (r *run) getPage(ctx context.Context, service graphsync.Service, link string) (*graphsync.Page, error) {
	token := r.currentToken()
	if token == "" {
		tok, err := r.svc.accessToken(ctx, r.conn.ID)
		if err != nil {
			return nil, err
		}
		r.setToken(tok)
		token = tok
	}
	page, err := r.svc.graph.GetPage(ctx, r.call(service, token), link)
	if graphsync.IsUnauthorized(err) {
		tok, rerr := r.svc.refresh(ctx, r.conn.ID, token)
		if rerr != nil {
			return nil, rerr
		}
		r.setToken(tok)
		page, err = r.svc.graph.GetPage(ctx, r.call(service, tok), link)
	}
	return page, err
}
