// Package syncer is graphsync's sync engine: it brings one mailbox's
// resources up to date, reading Graph through delta rounds (or the list a
// resource offers instead), writing each page's rows and checkpoint in one
// transaction, and saying what the job should do next. It knows nothing of
// River: the jobs package runs it and turns its Outcome into a job's.
package syncer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/graphsync/graphsync/graph"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
	"github.com/graphsync/graphsync/token"
)

// Pages is what the engine asks of Graph.
type Pages interface {
	GetPage(ctx context.Context, call graph.Call, link string) (*graph.Page, error)
	// CheckLink says whether a link Graph sent is one GetPage will follow;
	// links are checked before they are stored.
	CheckLink(link string) error
	// Block keeps this process's requests to scope back until until (a
	// window another process recorded).
	Block(scope graphsync.Scope, until time.Time)
	// Batch fetches up to graph.MaxBatch pages, of any scopes, in one
	// request (see graph.Client.Batch).
	Batch(ctx context.Context, gets []graph.PageRequest) ([]graph.BatchResult, error)
	// Get reads one object.
	Get(ctx context.Context, call graph.Call, link string, out any) error
	// GetContent streams content (an attachment's $value) to read.
	GetContent(ctx context.Context, call graph.Call, link string, read func(io.Reader) error) error
}

// Tokens hands out access tokens.
type Tokens interface {
	Access(ctx context.Context, connectionID int64) (string, error)
	Refresh(ctx context.Context, connectionID int64, rejected string) (string, error)
	SharePoint(ctx context.Context, connectionID int64) (store.SharePointToken, error)
}

// Config configures an Engine.
type Config struct {
	Store  *store.Store
	Graph  Pages
	Tokens Tokens
	Logger *slog.Logger
	// CalendarPast and CalendarFuture bound the calendar window around the
	// current day (default one year each way).
	CalendarPast, CalendarFuture time.Duration
	// CalendarRoll is how far the window's start must lag the current
	// day's before the window moves, which costs a full round (default one
	// day).
	CalendarRoll time.Duration
	// Now is the clock the calendar window and the chats' edit check follow
	// (time.Now when nil); the process's subscriptions are renewed by it too.
	Now func() time.Time
	// PageSizes are the odata.maxpagesize of resources whose collections
	// honour it; a resource without one gets the Graph client's.
	PageSizes map[*graphsync.Resource]int
	// ChatPageSize is the $top of chat message listings (default 50, the
	// largest Graph accepts).
	ChatPageSize int
	// EditCheck is how long a chat's messages may go unlisted when no new
	// message shows in its preview: edits and deletions of older messages
	// are found by the listing only, so they are at most this late (default
	// 5 minutes; the worker sets the sync interval).
	EditCheck time.Duration
	// MaxEmptyPages bounds the pages in a row without an item that a round
	// follows (default 500): Graph sends a few while it prepares a delta,
	// never hundreds, so more mean a chain without end, and the round
	// restarts later.
	MaxEmptyPages int
	// NoBatch sends each stream's delta link on its own instead of up to
	// 20 of a mailbox's in one JSON batch.
	NoBatch bool
	// AttachmentContent keeps attachments' content, for connections
	// without a setting of their own; AttachmentMaxBytes caps the size of
	// the content kept (default 150 MB, Outlook's largest attachment).
	AttachmentContent  bool
	AttachmentMaxBytes int64
	// ReconcileEvery is how often each stream is reconciled (its ids
	// listed and compared with its rows); 0 never.
	ReconcileEvery time.Duration
	// Sites are the SharePoint sites whose libraries the sites resource
	// syncs.
	Sites []graphsync.SiteRef
}

// Engine syncs mailboxes. It is safe for concurrent use.
type Engine struct {
	cfg    Config
	store  *store.Store
	graph  Pages
	tokens Tokens
	log    *slog.Logger
}

// New validates cfg.
func New(cfg Config) (*Engine, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("syncer config: Store is nil")
	case cfg.Graph == nil:
		return nil, errors.New("syncer config: Graph is nil")
	case cfg.Tokens == nil:
		return nil, errors.New("syncer config: Tokens is nil")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.CalendarPast <= 0 {
		cfg.CalendarPast = 365 * 24 * time.Hour
	}
	if cfg.CalendarFuture <= 0 {
		cfg.CalendarFuture = 365 * 24 * time.Hour
	}
	if cfg.CalendarRoll <= 0 {
		cfg.CalendarRoll = 24 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ChatPageSize <= 0 {
		cfg.ChatPageSize = 50
	}
	if cfg.EditCheck <= 0 {
		cfg.EditCheck = 5 * time.Minute
	}
	if cfg.MaxEmptyPages <= 0 {
		cfg.MaxEmptyPages = 500
	}
	if cfg.AttachmentMaxBytes <= 0 {
		cfg.AttachmentMaxBytes = 150 << 20
	}
	return &Engine{cfg: cfg, store: cfg.Store, graph: cfg.Graph, tokens: cfg.Tokens, log: cfg.Logger}, nil
}

// Request is one sync job's work: the resources of one mailbox.
type Request struct {
	Conn *store.Connection
	// User is the mailbox: the connection's user for a delegated
	// connection, one user of the tenant for an application connection,
	// empty for the tenant's user discovery.
	User      string
	Resources []*graphsync.Resource
	// PassStart is when the pass began (the job was enqueued): a job run
	// again after a snooze skips streams that finished a round since.
	PassStart time.Time
	// Fresh lists resources Graph said changed after any round this pass
	// finished: none of their streams is skipped.
	Fresh []*graphsync.Resource
	// Deadline bounds the job: past it the engine checkpoints and asks to
	// continue in a new job.
	Deadline time.Time
	// Thorough checks every stream now, even those the engine would check
	// later (chats whose newest message did not change).
	Thorough bool
}

// Outcome is what the job should do next: Stop wins (the connection cannot
// sync), then Snooze (run again after Wait: throttled, time budget reached,
// shutting down), then Failed (the resources that failed, to retry).
type Outcome struct {
	Stop   bool
	Snooze bool
	Wait   time.Duration
	Failed []error
	// Changed lists the resources whose sync wrote or deleted records.
	Changed []*graphsync.Resource
}

// Done says every resource was brought up to date.
func (o Outcome) Done() bool { return !o.Stop && !o.Snooze && len(o.Failed) == 0 }

// errContinue says a job reached its time budget with work left; its
// checkpoints are committed and a new job picks up.
var errContinue = errors.New("time budget reached; continuing in a new job")

// Sync brings the request's resources up to date, side by side, and says
// what the job should do next. Failures are recorded on the resources'
// streams for operators.
func (e *Engine) Sync(ctx context.Context, req Request) (Outcome, error) {
	j := &job{eng: e, req: req, token: &sharedToken{}}
	if req.User != "" {
		// One read of every stream's checkpoint serves the whole job.
		states, err := e.store.UserStreams(ctx, req.Conn.ID, req.User)
		if err != nil {
			return Outcome{}, err
		}
		j.states, j.read = byStream(states), map[graphsync.Stream]bool{}
	}
	runs := make([]*run, len(req.Resources))
	scopes := make([]graphsync.Scope, len(req.Resources))
	for i, res := range req.Resources {
		runs[i] = j.newRun(res)
		scopes[i] = runs[i].scope()
	}
	windows, err := e.store.ThrottleWindows(ctx, scopes)
	if err != nil {
		return Outcome{}, err
	}
	if len(runs) == 0 {
		return Outcome{}, nil
	}
	if _, err := j.token.get(ctx, e.tokens, req.Conn.ID); err != nil {
		return outcome([]result{runs[0].result(ctx, err)}), nil
	}
	var mu sync.Mutex
	var results []result
	var todo []*run
	for _, r := range runs {
		if until := windows[r.scope()]; time.Until(until) > 0 {
			e.graph.Block(r.scope(), until)
			syncRuns.WithLabelValues(r.resource.Name(), "throttled").Inc()
			results = append(results, result{act: actSnooze, wait: time.Until(until)})
			continue
		}
		if !j.doneThisPass(r) {
			todo = append(todo, r)
		}
	}
	j.prefetch(ctx, todo)
	var wg sync.WaitGroup
	for _, r := range todo {
		wg.Go(func() {
			res := r.sync(ctx)
			if r.changed() {
				res.changed = r.resource
			}
			mu.Lock()
			results = append(results, res)
			mu.Unlock()
		})
	}
	wg.Wait()
	return outcome(results), nil
}

// action is what a resource's sync asks of its job.
type action int

const (
	actDone   action = iota // synced, or failed in a way recorded on the resource
	actSnooze               // run the job again after wait
	actStop                 // end the job now: the connection cannot sync
	actFail                 // failed: retry the job
)

type result struct {
	act  action
	wait time.Duration
	err  error
	// changed is the resource when its sync wrote records.
	changed *graphsync.Resource
}

// outcome turns the resources' results into the job's.
func outcome(results []result) Outcome {
	var o Outcome
	for _, res := range results {
		if res.changed != nil {
			o.Changed = append(o.Changed, res.changed)
		}
		switch res.act {
		case actStop:
			return Outcome{Stop: true, Failed: []error{res.err}}
		case actSnooze:
			if !o.Snooze || res.wait < o.Wait {
				o.Snooze, o.Wait = true, res.wait
			}
		case actFail:
			o.Failed = append(o.Failed, res.err)
		}
	}
	return o
}

// sync syncs the run's resource and says what the job should do next.
func (r *run) sync(ctx context.Context) result {
	start := time.Now()
	err := r.syncShape(ctx)
	syncDuration.WithLabelValues(r.resource.Name()).Observe(time.Since(start).Seconds())
	if err == nil {
		var top []store.Finish
		if shape := r.resource.Shape(); shape != graphsync.Discovery && shape != graphsync.MemberDelta {
			// Their delta stream is their top level: already finished.
			top = append(top, store.Finish{Stream: r.top()})
		}
		if err := r.finishIdle(ctx, top...); err != nil {
			return result{act: actFail, err: err}
		}
		if r.sharedMailbox() {
			if err := r.eng.store.SetMailboxAccess(ctx, r.req.Conn.ID, r.req.User, true, ""); err != nil {
				return result{act: actFail, err: err}
			}
		}
		syncRuns.WithLabelValues(r.resource.Name(), "ok").Inc()
		r.log.InfoContext(ctx, "sync complete", r.completeAttrs(time.Since(start))...)
		return result{}
	}
	// Idle streams checked before the failure are up to date all the same.
	if ferr := r.finishIdle(context.WithoutCancel(ctx)); ferr != nil {
		r.log.ErrorContext(ctx, "record idle streams", "error", ferr)
	}
	return r.result(ctx, err)
}

func (r *run) syncShape(ctx context.Context) error {
	switch r.resource.Shape() {
	case graphsync.FolderTree:
		return r.syncFolderTree(ctx)
	case graphsync.WindowedDelta:
		return r.syncCalendar(ctx)
	case graphsync.Delta:
		return r.syncDrive(ctx)
	case graphsync.ChatList:
		return r.syncChats(ctx)
	case graphsync.RankedList:
		return r.syncPeople(ctx)
	case graphsync.Discovery:
		return r.syncDirectory(ctx)
	case graphsync.ChannelTree:
		return r.syncChannels(ctx)
	case graphsync.MemberDelta:
		return r.syncGroups(ctx)
	case graphsync.SiteTree:
		return r.syncSites(ctx)
	}
	return fmt.Errorf("sync %s: no engine for its shape", r.resource)
}

// result classifies a failed sync of the run's resource, recording on the
// resource what an operator should see.
func (r *run) result(ctx context.Context, err error) result {
	e := r.eng
	top := r.top()
	name := r.resource.Name()
	var reauth *token.ReauthError
	var tenant *token.TenantError
	var cp *token.ClientProblemError
	retryAfter, throttled := graph.IsThrottled(err)
	switch {
	case errors.Is(err, errContinue):
		syncRuns.WithLabelValues(name, "continued").Inc()
		return result{act: actSnooze}
	case throttled:
		until := time.Now().Add(retryAfter)
		if err := e.store.SetThrottle(ctx, r.scope(), until, "Retry-After from Graph"); err != nil {
			return result{act: actFail, err: err}
		}
		syncRuns.WithLabelValues(name, "throttled").Inc()
		r.log.InfoContext(ctx, "throttled by Graph; snoozing", "retry_after", retryAfter, "scope", r.scope().String())
		return result{act: actSnooze, wait: retryAfter}
	case errors.As(err, &reauth), errors.Is(err, token.ErrNotActive):
		syncRuns.WithLabelValues(name, "reauth").Inc()
		return result{act: actStop, err: err}
	case errors.As(err, &tenant):
		syncRuns.WithLabelValues(name, "needs_admin").Inc()
		return result{act: actStop, err: err}
	case errors.As(err, &cp):
		syncRuns.WithLabelValues(name, "error").Inc()
		return result{act: actSnooze, wait: 5 * time.Minute}
	case r.req.Conn.Kind == store.KindApplication && graph.IsNotFound(err):
		// Users without a mailbox or drive (unlicensed, shared, disabled)
		// answer 404; that user's resource waits for the next interval.
		syncRuns.WithLabelValues(name, "unavailable").Inc()
		r.log.InfoContext(ctx, "resource not available for this user", "error", err)
		return recorded(e.store.RecordStreamError(ctx, top, store.StreamError, "not available for this user: "+err.Error(), ""))
	case graph.IsForbidden(err) && r.sharedMailbox():
		// The owner withdrew the share, or narrowed it: the mailbox's
		// state, not the connection's. It is tried again every interval.
		syncRuns.WithLabelValues(name, "no_access").Inc()
		r.log.WarnContext(ctx, "Graph refused the shared mailbox", "mailbox", r.req.User, "error", err)
		if err := e.store.SetMailboxAccess(ctx, r.req.Conn.ID, r.req.User, false, err.Error()); err != nil {
			return result{act: actFail, err: err}
		}
		return recorded(e.store.RecordStreamError(ctx, top, store.StreamError, "no access to the shared mailbox: "+err.Error(), ""))
	case graph.IsForbidden(err):
		scope := r.resource.Permission(r.req.Conn.Kind == store.KindApplication)
		syncRuns.WithLabelValues(name, "missing_scope").Inc()
		r.log.WarnContext(ctx, "Graph refused the resource: missing permission", "scope", scope, "error", err)
		return recorded(e.store.RecordStreamError(ctx, top, store.StreamMissingScope, err.Error(), scope))
	case ctx.Err() != nil:
		// Shutting down: checkpoints are committed; resume at once elsewhere.
		syncRuns.WithLabelValues(name, "continued").Inc()
		return result{act: actSnooze}
	case errors.Is(err, graph.ErrTurnPastDeadline):
		// The wait for a request's turn at its gate would outlast the
		// job: nothing failed, the job's time is spent. Its checkpoints
		// are committed; a new job picks up.
		syncRuns.WithLabelValues(name, "continued").Inc()
		r.log.InfoContext(ctx, "job's time spent waiting for its turn at the rate limit; continuing in a new job", "scope", r.scope().String())
		return result{act: actSnooze}
	default:
		syncRuns.WithLabelValues(name, "error").Inc()
		r.log.ErrorContext(ctx, "sync failed", "error", err)
		if rerr := e.store.RecordStreamError(context.WithoutCancel(ctx), top, store.StreamError, err.Error(), ""); rerr != nil {
			r.log.ErrorContext(ctx, "record sync error", "error", rerr)
		}
		return result{act: actFail, err: fmt.Errorf("sync %s: %w", name, err)}
	}
}

func recorded(err error) result {
	if err != nil {
		return result{act: actFail, err: err}
	}
	return result{}
}

// job is what the runs of one sync job share: the request, the
// checkpoints read at its start and its token.
type job struct {
	eng *Engine
	req Request
	// states are the checkpoints of the user's streams as the job began
	// (nil for user discovery); runs read each stream's from here once.
	states   map[graphsync.Stream]*store.SyncState
	statesMu sync.Mutex
	read     map[graphsync.Stream]bool
	token    *sharedToken
	// pre holds the first pages of idle streams fetched in batches.
	pre *prefetched
}

func (j *job) newRun(res *graphsync.Resource) *run {
	log := j.eng.log.With("connection_id", j.req.Conn.ID, "resource", res.Name())
	if j.req.User != "" && (j.req.Conn.Kind == store.KindApplication || j.req.User != j.req.Conn.UserID) {
		log = log.With("user_id", j.req.User)
	}
	return &run{job: j, resource: res, log: log}
}

// doneThisPass says whether the run's resource finished a round since the
// pass began: a job run again after a snooze skips it.
func (j *job) doneThisPass(r *run) bool {
	if slices.Contains(j.req.Fresh, r.resource) {
		return false
	}
	st := j.states[r.top()]
	return st != nil && st.LastSuccessAt != nil && !st.LastSuccessAt.Before(j.req.PassStart)
}

// byStream indexes checkpoints by their stream.
func byStream(states []*store.SyncState) map[graphsync.Stream]*store.SyncState {
	m := make(map[graphsync.Stream]*store.SyncState, len(states))
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

func (t *sharedToken) get(ctx context.Context, tokens Tokens, connectionID int64) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.token == "" {
		tok, err := tokens.Access(ctx, connectionID)
		if err != nil {
			return "", err
		}
		t.token = tok
	}
	return t.token, nil
}

func (t *sharedToken) current() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.token
}

func (t *sharedToken) set(tok string) {
	t.mu.Lock()
	t.token = tok
	t.mu.Unlock()
}

// run is the sync of one resource within a sync job.
type run struct {
	*job
	resource *graphsync.Resource
	log      *slog.Logger
	// idle collects streams found unchanged, finished together at the end.
	idleMu sync.Mutex
	idle   []store.Finish
	// tallyMu guards tally: chats are synced side by side within a run.
	tallyMu sync.Mutex
	tally   tally
}

// tally is what a run wrote, and the request-id of its last Graph page,
// for its "sync complete" line.
type tally struct {
	pages     int64
	records   map[string]int64 // by action: upserted, deleted, left_window, quarantined
	requestID string
}

// count records n records written with action (upserted, deleted,
// left_window, quarantined) in the run's tally and the metrics.
func (r *run) count(action string, n int64) {
	recordsWritten.WithLabelValues(r.resource.Name(), action).Add(float64(n))
	r.tallyMu.Lock()
	defer r.tallyMu.Unlock()
	if r.tally.records == nil {
		r.tally.records = map[string]int64{}
	}
	r.tally.records[action] += n
}

// changed says whether the run upserted or deleted records.
func (r *run) changed() bool {
	r.tallyMu.Lock()
	defer r.tallyMu.Unlock()
	return r.tally.records["upserted"]+r.tally.records["deleted"] > 0
}

// pageStored counts one Graph page stored.
func (r *run) pageStored() {
	pagesFetched.WithLabelValues(r.resource.Name()).Inc()
	r.tallyMu.Lock()
	r.tally.pages++
	r.tallyMu.Unlock()
}

// noteRequest keeps the request-id of the run's last Graph page.
func (r *run) noteRequest(id string) {
	if id == "" {
		return
	}
	r.tallyMu.Lock()
	r.tally.requestID = id
	r.tallyMu.Unlock()
}

// completeAttrs are the "sync complete" line's counts and last request-id.
func (r *run) completeAttrs(elapsed time.Duration) []any {
	r.tallyMu.Lock()
	defer r.tallyMu.Unlock()
	rec := r.tally.records
	attrs := []any{"duration", elapsed.Round(time.Millisecond), "pages", r.tally.pages,
		"upserted", rec["upserted"], "deleted", rec["deleted"], "quarantined", rec["quarantined"]}
	if n := rec["left_window"]; n > 0 {
		attrs = append(attrs, "left_window", n)
	}
	if r.tally.requestID != "" {
		attrs = append(attrs, "request_id", r.tally.requestID)
	}
	return attrs
}

// top is the run's resource's top-level stream.
func (r *run) top() graphsync.Stream {
	return graphsync.Stream{Connection: r.req.Conn.ID, User: r.req.User, Resource: r.resource}
}

// stream names one container's stream of the run's resource and user (a
// mail folder, a chat, "folders").
func (r *run) stream(container string) graphsync.Stream { return r.top().In(container) }

// scope is the throttling scope the run's requests count against.
func (r *run) scope() graphsync.Scope {
	return graphsync.ScopeOf(r.resource.Service(), r.req.Conn.TenantID, r.req.User)
}

// state returns a stream's checkpoint: the first time, as read at the job's
// start (a stream never synced has none); from the database after that, as
// the job itself may have moved it.
func (r *run) state(ctx context.Context, st graphsync.Stream) (*store.SyncState, error) {
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
	return r.eng.store.SyncState(ctx, st)
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
	return r.eng.store.FinishRounds(ctx, fs)
}

// dropStaleStreams deletes the checkpoints of the run's resource and user
// whose containers are not in keep (containers that no longer exist). With
// the job's snapshot of checkpoints at hand, it costs nothing when none is
// stale.
func (r *run) dropStaleStreams(ctx context.Context, keep []string) error {
	if r.states != nil && !r.staleStreams(keep) {
		return nil
	}
	return r.eng.store.DropStreams(ctx, r.top(), keep)
}

// staleStreams says whether the job's snapshot holds a stream of the run's
// resource, other than its top level, that is not in keep.
func (r *run) staleStreams(keep []string) bool {
	for st := range r.states {
		if st.Resource == r.resource && st.Container != "" && !slices.Contains(keep, st.Container) {
			return true
		}
	}
	return false
}

// userPath is the Graph path of the synced user: /me for delegated
// connections, /users/{id} for application ones.
func (r *run) userPath() string {
	if r.req.Conn.Kind == store.KindApplication || r.sharedMailbox() {
		return "/users/" + url.PathEscape(r.req.User)
	}
	return "/me"
}

// sharedMailbox says whether the run reads another user's mailbox through
// a delegated connection (a shared or delegated mailbox).
func (r *run) sharedMailbox() bool {
	return r.req.Conn.Kind == store.KindDelegated && r.req.User != "" && r.req.User != r.req.Conn.UserID
}

func (r *run) call(tok string, o pageOpts) graph.Call {
	size := o.size
	if size == 0 {
		size = r.eng.cfg.PageSizes[r.resource]
	}
	var headers map[string]string
	if p := r.resource.Items().Prefer; p != "" {
		headers = map[string]string{"Prefer": p}
	}
	return graph.Call{Token: tok, Mailbox: r.req.User, Tenant: r.req.Conn.TenantID, Service: r.resource.Service(),
		Resource: r.resource.Name(), ImmutableIDs: true, PageSize: size, Salvage: o.salvage, Headers: headers}
}

// pageOpts asks for a page smaller than the configured size, or salvaged
// item by item (see graph.Call).
type pageOpts struct {
	size    int
	salvage bool
}

// getPage fetches one page, refreshing the access token once when Graph
// answers 401 (it expired or was revoked mid-sync).
func (r *run) getPage(ctx context.Context, link string, o pageOpts) (*graph.Page, error) {
	if page := r.pre.take(link); page != nil && o == (pageOpts{}) {
		r.noteRequest(page.RequestID)
		return page, nil
	}
	var page *graph.Page
	err := r.withToken(ctx, func(tok string) error {
		var err error
		page, err = r.eng.graph.GetPage(ctx, r.call(tok, o), link)
		return err
	})
	if err != nil {
		return nil, err
	}
	r.noteRequest(page.RequestID)
	return page, nil
}

// withToken runs a request with the job's access token, and once more with
// a refreshed one when Graph answers 401 (it expired or was revoked
// mid-sync).
func (r *run) withToken(ctx context.Context, send func(tok string) error) error {
	tok := r.token.current()
	if tok == "" {
		t, err := r.eng.tokens.Access(ctx, r.req.Conn.ID)
		if err != nil {
			return err
		}
		r.token.set(t)
		tok = t
	}
	err := send(tok)
	if graph.IsUnauthorized(err) {
		t, rerr := r.eng.tokens.Refresh(ctx, r.req.Conn.ID, tok)
		if rerr != nil {
			return rerr
		}
		r.token.set(t)
		err = send(t)
	}
	return err
}

// getObject fetches one object (not a collection) as Graph sent it.
func (r *run) getObject(ctx context.Context, link string) (json.RawMessage, error) {
	var out json.RawMessage
	err := r.withToken(ctx, func(tok string) error {
		return r.eng.graph.Get(ctx, r.call(tok, pageOpts{}), link, &out)
	})
	return out, err
}

// pastDeadline says the job's time budget is spent.
func (r *run) pastDeadline() bool { return time.Now().After(r.req.Deadline) }
