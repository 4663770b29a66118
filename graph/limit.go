package graph

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/graphsync/graphsync/graphsync"
)

// A gate guards one throttling scope: an Outlook mailbox, or one service of
// one tenant. It combines a token bucket (this process's, or the tenant's
// budget shared by every process), an optional cap on requests in flight
// (Outlook's 4 per mailbox), the Retry-After window Graph last gave for the
// scope, and the adaptive share of rate and concurrency Graph's answers
// leave it.
type gate struct {
	scope graphsync.Scope
	// base is the configured rate in units per second; 0 for no rate
	// limit. lim (this process's bucket) or share (the tenant's) applies
	// it, at the share adapt leaves.
	base  float64
	lim   *rate.Limiter
	burst int // lim's configured burst
	share *share
	slots *slots // nil: no concurrency cap
	adapt *adapt

	// Guarded by gates.mu.
	blockedUntil time.Time
	refs         int // calls holding or waiting on the gate; never evicted while > 0
	lastUsed     time.Time
}

// slots caps requests in flight at a limit that may move.
type slots struct {
	mu    sync.Mutex
	used  int
	limit int
	free  chan struct{} // closed and replaced when a slot frees
}

func newSlots(limit int) *slots { return &slots{limit: limit, free: make(chan struct{})} }

// acquire takes n slots at once. A batch larger than a cap cut below its
// size takes all n once nothing else is in flight: Outlook runs its
// requests in parallel whatever the cap, so holding fewer would let others
// in beside them once the cap grows back. It reports whether it had to
// wait for them.
func (s *slots) acquire(ctx context.Context, n int) (held int, waited bool, err error) {
	n = max(1, n)
	for {
		s.mu.Lock()
		if s.used+n <= s.limit || s.used == 0 {
			s.used += n
			s.mu.Unlock()
			return n, waited, nil
		}
		free := s.free
		s.mu.Unlock()
		waited = true
		select {
		case <-free:
		case <-ctx.Done():
			return 0, waited, ctx.Err()
		}
	}
}

func (s *slots) release(n int) {
	s.mu.Lock()
	s.used -= n
	close(s.free)
	s.free = make(chan struct{})
	s.mu.Unlock()
}

func (s *slots) setLimit(n int) {
	s.mu.Lock()
	if n > s.limit {
		close(s.free)
		s.free = make(chan struct{})
	}
	s.limit = n
	s.mu.Unlock()
}

// gates holds one gate per scope. A worker can touch tens of thousands of
// mailboxes, so idle gates are swept: a bucket idle for longer than it takes
// to refill forgets nothing by being dropped.
type gates struct {
	// budgets keeps the tenants' shared buckets (nil: each process keeps
	// its own); holder names this process there.
	budgets Budgets
	holder  string

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

func newGates(now func() time.Time, newGate func(graphsync.Scope) *gate, budgets Budgets) *gates {
	return &gates{m: make(map[graphsync.Scope]*gate), idle: gateIdle, now: now, newGate: newGate,
		budgets: budgets, holder: newHolder()}
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
			g.adapt.forget()
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

// acquire waits until g lets a request of the given cost, needing n
// slots (a batch needs several), leave: the Retry-After window has passed,
// the bucket has tokens and the slots are free. A window longer than
// maxWait is not waited here: the caller gets a throttling *Error to turn
// into a job snooze. release of the slots held must follow a nil return.
func (gs *gates) acquire(ctx context.Context, g *gate, cost, n int, maxWait time.Duration, onBlocked func(time.Duration) *Error) (held int, err error) {
	if g == nil {
		return 0, nil
	}
	for {
		if d := gs.window(g); d > 0 {
			if d > maxWait {
				return 0, onBlocked(d)
			}
			if err := sleep(ctx, d); err != nil {
				return 0, err
			}
			continue
		}
		if err := gs.take(ctx, g, cost); err != nil {
			return 0, err
		}
		if g.slots != nil {
			_, conc := g.adapt.state()
			g.slots.setLimit(conc)
			var waited bool
			if held, waited, err = g.slots.acquire(ctx, n); err != nil {
				return 0, err
			}
			if waited {
				g.adapt.waited()
			}
		}
		// Another request may have been throttled while this one queued.
		if gs.window(g) > 0 {
			g.release(held)
			continue
		}
		return held, nil
	}
}

// take waits for cost tokens of g's bucket at the rate adapt leaves it,
// and tells adapt what left and whether it had to wait.
func (gs *gates) take(ctx context.Context, g *gate, cost int) error {
	if g.base == 0 {
		g.adapt.took(float64(cost), false, gs.now())
		return nil
	}
	r := g.adapt.rate(g.base, gs.now())
	if g.share != nil {
		waited, err := g.share.spend(ctx, gs.budgets, gs.holder, float64(cost), r, gs.now)
		if err == nil {
			g.adapt.took(float64(cost), waited, gs.now())
		}
		return err
	}
	if rate.Limit(r) != g.lim.Limit() {
		g.lim.SetLimit(rate.Limit(r))
	}
	if b := g.adapt.burst(g.burst, r); b != g.lim.Burst() {
		g.lim.SetBurst(b)
	}
	cost = min(cost, g.lim.Burst())
	now := time.Now()
	res := g.lim.ReserveN(now, cost)
	d := res.DelayFrom(now)
	if deadline, ok := ctx.Deadline(); ok && now.Add(d).After(deadline) {
		// The wait would outlast the deadline: report it as such rather
		// than wait for nothing.
		res.CancelAt(now)
		return ErrTurnPastDeadline
	}
	if err := sleep(ctx, d); err != nil {
		res.Cancel()
		return err
	}
	g.adapt.took(float64(cost), d > 0, gs.now())
	return nil
}

// ErrTurnPastDeadline says a request's turn at its gate's rate would come
// after its context's deadline: it was not sent. It is a
// context.DeadlineExceeded whose context has not yet expired, so a caller
// can tell a job whose time is spent from a request that timed out.
var ErrTurnPastDeadline = fmt.Errorf("turn at the rate limit comes after the deadline: %w", context.DeadlineExceeded)

func (g *gate) release(held int) {
	if g != nil && g.slots != nil && held > 0 {
		g.slots.release(held)
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
// and OneDrive count resource units: 1 for a single item or a delta with a
// token, 2 for a multi-item query (children) or a delta without a token,
// 5 for permission operations. The directory counts its own: 2 for a
// listing of users or groups, 1 for anything else, one less with $select
// and with $top under 20, one more with $expand, never under 1.
func cost(call Call, req *http.Request) int {
	switch call.Service {
	case graphsync.OneDrive:
		return driveCost(req)
	case graphsync.Directory:
		return directoryCost(req)
	}
	return 1
}

// permissionUnits is what a permission operation costs in OneDrive's
// resource units, its costliest request.
const permissionUnits = 5

func driveCost(req *http.Request) int {
	path := req.URL.EscapedPath()
	q := req.URL.RawQuery
	switch {
	case containsFold(path, "/permissions") || containsFold(q, "permissions"):
		return permissionUnits
	case containsFold(path, "delta"):
		if containsFold(path, "token") || containsFold(q, "token") {
			return 1
		}
		return 2
	case strings.HasSuffix(strings.ToLower(path), "/children"):
		return 2
	}
	return 1
}

func directoryCost(req *http.Request) int {
	path := strings.ToLower(strings.TrimSuffix(req.URL.Path, "/"))
	n := 1
	if strings.HasSuffix(path, "/users") || strings.HasSuffix(path, "/groups") {
		n = 2
	}
	q := req.URL.Query()
	get := func(name string) (string, bool) {
		for _, k := range []string{"$" + name, name} {
			if v, ok := q[k]; ok && len(v) > 0 {
				return v[0], true
			}
		}
		return "", false
	}
	if _, ok := get("select"); ok {
		n--
	}
	if v, ok := get("top"); ok {
		if t, err := strconv.Atoi(v); err == nil && t < 20 {
			n--
		}
	}
	if _, ok := get("expand"); ok {
		n++
	}
	return max(n, 1)
}
