package jobs

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

// SyncArgs syncs the resources of one connection in one job — for an
// application connection, of one user of its tenant, or (with no user) the
// discovery of the tenant's users. One job per mailbox, not per resource,
// keeps an idle pass over a large fleet cheap.
type SyncArgs struct {
	ConnectionID int64  `json:"connection_id" river:"unique"`
	UserID       string `json:"user_id,omitempty" river:"unique"`
	// Resources to sync; empty means every resource enabled on the
	// connection.
	Resources []string `json:"resources,omitempty"`
}

// Kind is River's name for the job.
func (SyncArgs) Kind() string { return "graphsync_sync" }

// InsertOpts keeps one sync per connection and user pending or running.
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

// syncAttempts is how many times River retries a job for a resource that
// keeps failing; after that the failure stays recorded on the resource and
// the next scheduled pass tries again, so one broken resource never holds
// up the connection's others for long.
const syncAttempts = 4

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
	if conn.Status != store.StatusActive {
		return nil
	}
	j := &syncJob{svc: s, conn: conn, userID: conn.UserID, deadline: time.Now().Add(s.cfg.MaxJobDuration),
		passStart: job.CreatedAt, token: &sharedToken{}}
	var resources []string
	switch {
	case conn.Kind == store.KindApplication && args.UserID == "":
		resources = []string{store.DirectoryResource}
	case conn.Kind == store.KindApplication:
		// A user who left the tenant since the job was queued is not synced.
		if live, err := s.store.DirectoryUserLive(ctx, conn.ID, args.UserID); err != nil || !live {
			return err
		}
		j.userID = args.UserID
		fallthrough
	default:
		for _, res := range Resources {
			if slices.Contains(conn.Resources, res) && (len(args.Resources) == 0 || slices.Contains(args.Resources, res)) {
				resources = append(resources, res)
			}
		}
		// One read of every stream's checkpoint serves the whole job.
		states, err := s.store.StreamStates(ctx, conn.ID, j.streamPrefix())
		if err != nil {
			return err
		}
		j.states, j.read = byStream(states), map[store.Stream]bool{}
	}
	if len(resources) == 0 {
		return nil
	}
	runs := make([]*run, len(resources))
	scopes := make([]string, len(resources))
	for i, res := range resources {
		runs[i] = j.newRun(res)
		scopes[i] = runs[i].throttleScope()
	}
	windows, err := s.store.ThrottleWindows(ctx, scopes)
	if err != nil {
		return err
	}
	if _, err := j.token.get(ctx, s, conn.ID); err != nil {
		return j.outcome(ctx, job, []result{runs[0].result(ctx, err)})
	}

	var mu sync.Mutex
	var results []result
	var wg sync.WaitGroup
	for _, r := range runs {
		if until := windows[r.throttleScope()]; time.Until(until) > 0 {
			r.block(until)
			syncRuns.WithLabelValues(r.resource, "throttled").Inc()
			results = append(results, result{act: actSnooze, wait: time.Until(until)})
			continue
		}
		if j.doneThisPass(r) {
			continue
		}
		wg.Go(func() {
			res := r.sync(ctx)
			mu.Lock()
			results = append(results, res)
			mu.Unlock()
		})
	}
	wg.Wait()
	return j.outcome(ctx, job, results)
}

// action is what a resource's sync asks of its job.
type action int

const (
	actDone   action = iota // synced, or failed in a way recorded on the resource
	actSnooze               // run the job again after wait
	actStop                 // end the job now: the connection cannot sync
	actFail                 // failed: River retries the job
)

type result struct {
	act  action
	wait time.Duration
	err  error
}

// outcome turns the resources' results into the job's: stopping wins, then
// the shortest snooze (resources already synced in this pass are skipped
// when it runs again), then a failure.
func (j *syncJob) outcome(ctx context.Context, job *river.Job[SyncArgs], results []result) error {
	snooze := time.Duration(-1)
	var failed []error
	for _, res := range results {
		switch res.act {
		case actStop:
			return res.err
		case actSnooze:
			if snooze < 0 || res.wait < snooze {
				snooze = res.wait
			}
		case actFail:
			failed = append(failed, res.err)
		}
	}
	switch {
	case snooze >= 0:
		return river.JobSnooze(snooze)
	case len(failed) > 0 && job.Attempt < syncAttempts:
		return errors.Join(failed...)
	case len(failed) > 0:
		j.svc.log.WarnContext(ctx, "sync failed again; the next scheduled pass retries it",
			"connection_id", j.conn.ID, "attempts", job.Attempt, "error", errors.Join(failed...))
	}
	return nil
}

// sync syncs the run's resource and says what the job should do next.
func (r *run) sync(ctx context.Context) result {
	fn, ok := syncers[r.resource]
	if r.resource == store.DirectoryResource {
		fn, ok = syncDirectory, true
	}
	if !ok {
		return result{}
	}
	start := time.Now()
	err := fn(ctx, r)
	syncDuration.WithLabelValues(r.resource).Observe(time.Since(start).Seconds())
	if err == nil {
		top := store.Finish{Stream: r.stream("")}
		if err := r.finishIdle(ctx, top); err != nil {
			return result{act: actFail, err: err}
		}
		syncRuns.WithLabelValues(r.resource, "ok").Inc()
		r.log.InfoContext(ctx, "sync complete", "duration", time.Since(start).Round(time.Millisecond))
		return result{}
	}
	// Idle streams checked before the failure are up to date all the same.
	if ferr := r.finishIdle(context.WithoutCancel(ctx)); ferr != nil {
		r.log.ErrorContext(ctx, "record idle streams", "error", ferr)
	}
	return r.result(ctx, err)
}

// result classifies a failed sync of the run's resource, recording on the
// resource what an operator should see.
func (r *run) result(ctx context.Context, err error) result {
	s := r.svc
	top := r.stream("")
	var reauth *reauthError
	var cp *clientProblemError
	retryAfter, throttled := graphsync.IsThrottled(err)
	switch {
	case errors.Is(err, errContinue):
		syncRuns.WithLabelValues(r.resource, "continued").Inc()
		return result{act: actSnooze}
	case throttled:
		until := time.Now().Add(retryAfter)
		if err := s.store.SetThrottle(ctx, r.throttleScope(), until, "Retry-After from Graph"); err != nil {
			return result{act: actFail, err: err}
		}
		syncRuns.WithLabelValues(r.resource, "throttled").Inc()
		r.log.InfoContext(ctx, "throttled by Graph; snoozing", "retry_after", retryAfter)
		return result{act: actSnooze, wait: retryAfter}
	case errors.As(err, &reauth), errors.Is(err, errNotActive):
		syncRuns.WithLabelValues(r.resource, "reauth").Inc()
		return result{act: actStop}
	case errors.As(err, &cp):
		syncRuns.WithLabelValues(r.resource, "error").Inc()
		return result{act: actSnooze, wait: 5 * time.Minute}
	case r.conn.Kind == store.KindApplication && graphsync.IsNotFound(err):
		// Users without a mailbox or drive (unlicensed, shared, disabled)
		// answer 404; that user's resource waits for the next interval.
		syncRuns.WithLabelValues(r.resource, "unavailable").Inc()
		r.log.InfoContext(ctx, "resource not available for this user", "error", err)
		return r.recorded(s.store.RecordStreamError(ctx, top, store.StreamError, "not available for this user: "+err.Error(), ""))
	case graphsync.IsForbidden(err):
		scope := graphsync.RequiredScope(graphsync.Resource(r.resource))
		if r.conn.Kind == store.KindApplication {
			scope = graphsync.RequiredPermission(graphsync.Resource(r.resource))
			if r.resource == store.DirectoryResource {
				scope = graphsync.DirectoryPermission
			}
		}
		syncRuns.WithLabelValues(r.resource, "missing_scope").Inc()
		r.log.WarnContext(ctx, "Graph refused the resource: missing permission", "scope", scope, "error", err)
		return r.recorded(s.store.RecordStreamError(ctx, top, store.StreamMissingScope, err.Error(), scope))
	case ctx.Err() != nil:
		// Shutting down: checkpoints are committed; resume at once elsewhere.
		syncRuns.WithLabelValues(r.resource, "continued").Inc()
		return result{act: actSnooze}
	default:
		syncRuns.WithLabelValues(r.resource, "error").Inc()
		r.log.ErrorContext(ctx, "sync failed", "error", err)
		if rerr := s.store.RecordStreamError(context.WithoutCancel(ctx), top, store.StreamError, err.Error(), ""); rerr != nil {
			r.log.ErrorContext(ctx, "record sync error", "error", rerr)
		}
		return result{act: actFail, err: fmt.Errorf("sync %s: %w", r.resource, err)}
	}
}

func (r *run) recorded(err error) result {
	if err != nil {
		return result{act: actFail, err: err}
	}
	return result{}
}

// syncJob is what the runs of one sync job share: the connection, the
// synced user, the checkpoints read at its start, its token and deadline.
type syncJob struct {
	svc      *Service
	conn     *store.Connection
	userID   string
	deadline time.Time
	// passStart is when the job was enqueued. A job snoozed by throttling
	// or its time budget runs again with the same passStart; streams that
	// finished a round since then are not synced again in this pass.
	passStart time.Time
	// states are the checkpoints of the user's streams as the job began
	// (nil for user discovery); runs read each stream's from here once.
	states   map[store.Stream]*store.SyncState
	statesMu sync.Mutex
	read     map[store.Stream]bool
	token    *sharedToken
}

func (j *syncJob) newRun(resource string) *run {
	log := j.svc.log.With("connection_id", j.conn.ID, "resource", resource)
	if j.conn.Kind == store.KindApplication && j.userID != "" {
		log = log.With("user_id", j.userID)
	}
	return &run{syncJob: j, resource: resource, log: log}
}

// streamPrefix scopes stream names to the synced user: an application
// connection syncs many users' resources under one connection.
func (j *syncJob) streamPrefix() string {
	if j.conn.Kind == store.KindApplication && j.userID != "" {
		return j.userID + "/"
	}
	return ""
}

// doneThisPass says whether the run's resource finished a round since the
// job was enqueued: a job run again after a snooze skips it.
func (j *syncJob) doneThisPass(r *run) bool {
	st := j.states[r.stream("")]
	return st != nil && st.LastSuccessAt != nil && !st.LastSuccessAt.Before(j.passStart)
}

// byStream indexes checkpoints by their stream.
func byStream(states []*store.SyncState) map[store.Stream]*store.SyncState {
	m := make(map[store.Stream]*store.SyncState, len(states))
	for _, st := range states {
		m[st.Stream] = st
	}
	return m
}

// sharedToken is the access token the runs of one job share.
type sharedToken struct {
	mu    sync.Mutex
	token string
}

func (t *sharedToken) get(ctx context.Context, s *Service, connectionID int64) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.token == "" {
		tok, err := s.accessToken(ctx, connectionID)
		if err != nil {
			return "", err
		}
		t.token = tok
	}
	return t.token, nil
}

// run is the sync of one resource within a sync job.
type run struct {
	*syncJob
	resource string
	log      interface {
		InfoContext(context.Context, string, ...any)
		WarnContext(context.Context, string, ...any)
		ErrorContext(context.Context, string, ...any)
	}
	// idle collects streams found unchanged, finished together at the end.
	idleMu sync.Mutex
	idle   []store.Finish
}

func (r *run) currentToken() string {
	r.token.mu.Lock()
	defer r.token.mu.Unlock()
	return r.token.token
}

func (r *run) setToken(tok string) {
	r.token.mu.Lock()
	r.token.token = tok
	r.token.mu.Unlock()
}

// state returns a stream's checkpoint: the first time, as read at the job's
// start (a stream never synced has none); from the database after that, as
// the job itself may have moved it.
func (r *run) state(ctx context.Context, st store.Stream) (*store.SyncState, error) {
	if r.states != nil {
		r.statesMu.Lock()
		first := !r.read[st]
		r.read[st] = true
		r.statesMu.Unlock()
		if first {
			if cached := r.states[st]; cached != nil {
				return cached, nil
			}
			return &store.SyncState{Stream: st, Status: store.StreamOK}, nil
		}
	}
	return r.svc.store.SyncState(ctx, r.svc.store.Pool(), st)
}

// markIdle notes a stream found unchanged; finishIdle records it with the
// resource's others. Should the job die first, its old position is still
// good.
func (r *run) markIdle(f store.Finish) {
	r.idleMu.Lock()
	r.idle = append(r.idle, f)
	r.idleMu.Unlock()
}

// finishIdle records the unchanged streams collected so far, and extra,
// in one statement.
func (r *run) finishIdle(ctx context.Context, extra ...store.Finish) error {
	r.idleMu.Lock()
	fs := append(r.idle, extra...)
	r.idle = nil
	r.idleMu.Unlock()
	return r.svc.store.FinishRoundsTx(ctx, r.svc.store.Pool(), fs)
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

// stream names one checkpointed stream of the run's resource and user
// (a mail folder, a chat, "folders").
func (r *run) stream(name string) store.Stream {
	return store.Stream{ConnectionID: r.conn.ID, Resource: r.resource, Name: r.streamPrefix() + name}
}

// dropStaleStreams deletes the checkpoints of the run's user and resource
// whose names are not in keep (containers that no longer exist). With the
// job's snapshot of checkpoints at hand, it costs nothing when none is stale.
func (r *run) dropStaleStreams(ctx context.Context, keep []string) error {
	names := make([]string, len(keep))
	for i, k := range keep {
		names[i] = r.streamPrefix() + k
	}
	if r.states != nil && !r.staleStreams(names) {
		return nil
	}
	return r.svc.store.DeleteStreamsTx(ctx, r.svc.store.Pool(), r.conn.ID, r.resource, r.streamPrefix(), names)
}

// staleStreams says whether the job's snapshot holds a stream of the run's
// resource, other than its top level, that is not in names.
func (r *run) staleStreams(names []string) bool {
	for st := range r.states {
		if st.Resource == r.resource && st.Name != r.streamPrefix() && strings.HasPrefix(st.Name, r.streamPrefix()) &&
			!slices.Contains(names, st.Name) {
			return true
		}
	}
	return false
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
