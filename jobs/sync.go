package jobs

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

// SyncArgs syncs one resource of one connection; for an application
// connection, of one user of its tenant (or, with Resource "users" and no
// user, discovers the tenant's users).
type SyncArgs struct {
	ConnectionID int64  `json:"connection_id" river:"unique"`
	Resource     string `json:"resource" river:"unique"`
	UserID       string `json:"user_id,omitempty" river:"unique"`
}

// Kind is River's name for the job.
func (SyncArgs) Kind() string { return "graphsync_sync" }

// InsertOpts keeps one sync per connection and resource pending or running.
func (SyncArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueSync, UniqueOpts: uniqueWhileActive}
}

// Resources graphsync knows how to sync, in the order they are scheduled.
// Each resource's file registers itself.
var Resources []string

type syncFunc func(ctx context.Context, r *run) error

var syncers = map[string]syncFunc{}

// resourceOrder puts mailbox resources first: they share the mailbox's
// Outlook budget and a user most often checks mail first.
var resourceOrder = []string{"mail", "calendar", "contacts", "drive", "chats", "people"}

// register makes a resource syncable; each resource file calls it from init.
func register(resource string, fn syncFunc) {
	if !slices.Contains(resourceOrder, resource) {
		panic("jobs: register unknown resource " + resource)
	}
	syncers[resource] = fn
	Resources = Resources[:0]
	for _, r := range resourceOrder {
		if syncers[r] != nil {
			Resources = append(Resources, r)
		}
	}
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
	conn, err := s.store.Connection(ctx, args.ConnectionID)
	if errors.Is(err, store.ErrNotFound) {
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	fn, ok := syncers[args.Resource]
	if conn.Kind == store.KindApplication && args.Resource == store.DirectoryResource {
		fn, ok = syncDirectory, true
	}
	if !ok {
		return river.JobCancel(fmt.Errorf("sync connection %d: unknown resource %q", args.ConnectionID, args.Resource))
	}
	if conn.Status != store.StatusActive || (args.Resource != store.DirectoryResource && !slices.Contains(conn.Resources, args.Resource)) {
		return nil
	}
	log := s.log.With("connection_id", conn.ID, "resource", args.Resource)
	r := &run{svc: s, conn: conn, resource: args.Resource, userID: conn.UserID,
		deadline: time.Now().Add(s.cfg.MaxJobDuration), passStart: job.CreatedAt}
	if conn.Kind == store.KindApplication && args.Resource != store.DirectoryResource {
		if args.UserID == "" {
			return river.JobCancel(fmt.Errorf("sync connection %d %s: an application connection syncs one user at a time, and the job names none", conn.ID, args.Resource))
		}
		// A user who left the tenant since the job was queued is not synced.
		if live, err := s.store.DirectoryUserLive(ctx, conn.ID, args.UserID); err != nil || !live {
			return err
		}
		r.userID = args.UserID
		log = log.With("user_id", args.UserID)
	}
	r.log = log
	top := r.stream("")
	if until, err := s.store.ThrottledUntil(ctx, r.throttleScope()); err != nil {
		return err
	} else if d := time.Until(until); d > 0 {
		r.block(until)
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
		if err := s.store.FinishRoundTx(ctx, s.store.Pool(), top, "", store.Progress{}); err != nil {
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
	case conn.Kind == store.KindApplication && graphsync.IsNotFound(err):
		// Users without a mailbox or drive (unlicensed, shared, disabled)
		// answer 404; that user's resource waits for the next interval.
		syncRuns.WithLabelValues(args.Resource, "unavailable").Inc()
		log.InfoContext(ctx, "resource not available for this user", "error", err)
		return s.store.RecordStreamError(ctx, top, store.StreamError, "not available for this user: "+err.Error(), "")
	case graphsync.IsForbidden(err):
		scope := graphsync.RequiredScope(graphsync.Resource(args.Resource))
		if conn.Kind == store.KindApplication {
			scope = graphsync.RequiredPermission(graphsync.Resource(args.Resource))
			if args.Resource == store.DirectoryResource {
				scope = graphsync.DirectoryPermission
			}
		}
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

// tenantThrottled maps the resources whose Graph workload throttles per app
// per tenant (not per mailbox) to that workload.
var tenantThrottled = map[string]graphsync.Service{"chats": graphsync.ServiceTeams, store.DirectoryResource: graphsync.ServiceDirectory}

// throttleScope names the mailbox (or tenant workload) whose Retry-After
// windows the job shares with every other process.
func (r *run) throttleScope() string {
	if svc, ok := tenantThrottled[r.resource]; ok {
		return "tenant:" + r.conn.TenantID + "/" + svc.String()
	}
	return "mailbox:" + r.conn.TenantID + "/" + r.userID
}

// block keeps this process's requests in the job's throttling scope back
// until until.
func (r *run) block(until time.Time) {
	if svc, ok := tenantThrottled[r.resource]; ok {
		r.svc.graph.BlockTenant(svc, r.conn.TenantID, until)
		return
	}
	r.svc.graph.Block(r.userID, until)
}

// streamPrefix scopes stream names to the synced user: an application
// connection syncs many users' resources under one connection.
func (r *run) streamPrefix() string {
	if r.conn.Kind == store.KindApplication && r.userID != "" {
		return r.userID + "/"
	}
	return ""
}

// stream names one checkpointed stream of the run's resource and user
// (a mail folder, a chat, "folders").
func (r *run) stream(name string) store.Stream {
	return store.Stream{ConnectionID: r.conn.ID, Resource: r.resource, Name: r.streamPrefix() + name}
}

// dropStaleStreams deletes the checkpoints of the run's user and resource
// whose names are not in keep (containers that no longer exist).
func (r *run) dropStaleStreams(ctx context.Context, keep []string) error {
	names := make([]string, len(keep))
	for i, k := range keep {
		names[i] = r.streamPrefix() + k
	}
	return r.svc.store.DeleteStreamsTx(ctx, r.svc.store.Pool(), r.conn.ID, r.resource, r.streamPrefix(), names)
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
