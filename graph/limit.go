package graph

import (
	"context"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/graphsync/graphsync/graphsync"
)

// A gate guards one throttling scope: an Outlook mailbox, or one service of
// one tenant. It combines a token bucket, an optional cap on requests in
// flight, and the Retry-After window Graph last gave for the scope.
type gate struct {
	lim *rate.Limiter // nil: no rate limit for this scope
	sem chan struct{} // nil: no concurrency cap

	// Guarded by gates.mu.
	blockedUntil time.Time
	refs         int // calls holding or waiting on the gate; never evicted while > 0
	lastUsed     time.Time
}

// gates holds one gate per scope. A worker can touch tens of thousands of
// mailboxes, so idle gates are swept: a bucket idle for longer than it takes
// to refill forgets nothing by being dropped.
type gates struct {
	mu        sync.Mutex
	m         map[graphsync.Scope]*gate
	idle      time.Duration
	lastSweep time.Time
	now       func() time.Time
	newGate   func(key graphsync.Scope) *gate
}

const (
	gateIdle       = 10 * time.Minute // Outlook's window is 10 minutes
	gateSweepEvery = time.Minute
)

func newGates(now func() time.Time, newGate func(graphsync.Scope) *gate) *gates {
	return &gates{m: make(map[graphsync.Scope]*gate), idle: gateIdle, now: now, newGate: newGate}
}

// get returns the gate for key with a reference held; put releases it.
func (gs *gates) get(key graphsync.Scope) *gate {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	now := gs.now()
	gs.sweepLocked(now)
	k := key
	g, ok := gs.m[k]
	if !ok {
		g = gs.newGate(key)
		gs.m[k] = g
	}
	g.refs++
	g.lastUsed = now
	return g
}

func (gs *gates) put(g *gate) {
	if g == nil {
		return
	}
	gs.mu.Lock()
	g.refs--
	g.lastUsed = gs.now()
	gs.mu.Unlock()
}

func (gs *gates) sweepLocked(now time.Time) {
	if now.Sub(gs.lastSweep) < gateSweepEvery {
		return
	}
	gs.lastSweep = now
	for k, g := range gs.m {
		if g.refs == 0 && now.Sub(g.lastUsed) > gs.idle && !now.Before(g.blockedUntil) {
			delete(gs.m, k)
		}
	}
}

func (gs *gates) len() int {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	return len(gs.m)
}

// block extends the scope's Retry-After window to until.
func (gs *gates) block(key graphsync.Scope, until time.Time) {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	k := key
	g, ok := gs.m[k]
	if !ok {
		g = gs.newGate(key)
		g.lastUsed = gs.now()
		gs.m[k] = g
	}
	if until.After(g.blockedUntil) {
		g.blockedUntil = until
	}
}

func (gs *gates) blockedUntil(key graphsync.Scope) time.Time {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	g, ok := gs.m[key]
	if !ok || !gs.now().Before(g.blockedUntil) {
		return time.Time{}
	}
	return g.blockedUntil
}

func (gs *gates) window(g *gate) time.Duration {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	return g.blockedUntil.Sub(gs.now())
}

// acquire waits until g lets one request of the given cost leave: the
// Retry-After window has passed, the bucket has tokens and a slot is free.
// A window longer than maxWait is not waited here: the caller gets a
// throttling *Error to turn into a job snooze. release must follow a nil
// return.
func (gs *gates) acquire(ctx context.Context, g *gate, cost int, maxWait time.Duration, onBlocked func(time.Duration) *Error) error {
	if g == nil {
		return nil
	}
	for {
		if d := gs.window(g); d > 0 {
			if d > maxWait {
				return onBlocked(d)
			}
			if err := sleep(ctx, d); err != nil {
				return err
			}
			continue
		}
		if g.lim != nil {
			if cost > g.lim.Burst() {
				cost = g.lim.Burst()
			}
			if err := g.lim.WaitN(ctx, cost); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				// The wait would outlast the deadline: report it as such
				// rather than as rate's internal message.
				return context.DeadlineExceeded
			}
		}
		if g.sem != nil {
			select {
			case g.sem <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		// Another request may have been throttled while this one queued.
		if gs.window(g) > 0 {
			g.release()
			continue
		}
		return nil
	}
}

func (g *gate) release() {
	if g != nil && g.sem != nil {
		<-g.sem
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// scopeOf picks the throttling scope of a call (graphsync.ScopeOf decides);
// a call without a mailbox or tenant is not limited here.
func scopeOf(call Call) (graphsync.Scope, bool) {
	s := graphsync.ScopeOf(call.Service, call.Tenant, call.Mailbox)
	if call.Service.PerMailbox() {
		return s, call.Mailbox != ""
	}
	return s, call.Tenant != ""
}

// cost is the number of tokens a request takes from its bucket. SharePoint
// and OneDrive count resource units: 2 for a delta without a token (a full
// enumeration), 1 for a delta with one or a single item.
func cost(call Call, req *http.Request) int {
	if call.Service != graphsync.OneDrive {
		return 1
	}
	path := req.URL.EscapedPath()
	q := req.URL.RawQuery
	if containsFold(path, "delta") && !containsFold(path, "token") && !containsFold(q, "token") {
		return 2
	}
	return 1
}
