package graph

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"sync"
	"time"

	"github.com/graphsync/graphsync/graphsync"
)

// Budgets keeps the tenant budgets every process shares (store.Store does,
// in PostgreSQL). TakeBudget takes up to want tokens of scope's bucket, at
// least need or none, for holder to spend within lease, and reports what is
// left in the bucket; the bucket refills at rate tokens per second up to
// burst.
type Budgets interface {
	TakeBudget(ctx context.Context, scope graphsync.Scope, holder string, rate, burst, need, want float64, lease time.Duration) (granted, left float64, err error)
}

// Budget is a limit Microsoft sets per app and tenant: Units (requests, or
// resource units) in any window of Per.
type Budget struct {
	Units float64
	Per   time.Duration
	// MaxCost is the most units one request costs (permissionUnits for
	// OneDrive): spend caps a request's cost at the burst, so the burst is
	// never under it.
	MaxCost float64
}

// bucket is how a budget is drawn from a shared token bucket so that no
// window of Per ever sees more than Units spent. A process spends a slice
// up to lease after taking it, so the tokens spent in a window were taken
// in a window of Per+lease: burst + rate×(Per+lease) ≤ Units. The lease is
// short against Per (a fiftieth, at least 100ms, to keep the database's
// load at a few statements per second per busy tenant) and the burst
// about a lease's worth, but never under the costliest request.
func (b Budget) bucket() (rate, burst float64, lease time.Duration) {
	lease = max(100*time.Millisecond, b.Per/50)
	burst = min(max(2, b.MaxCost, math.Floor(b.Units*lease.Seconds()/b.Per.Seconds())), b.Units/2)
	rate = (b.Units - burst) / (b.Per + lease).Seconds()
	return rate, burst, lease
}

// share is this process's view of a tenant's shared bucket: the slice it
// holds and until when.
type share struct {
	scope       graphsync.Scope
	rate, burst float64
	lease       time.Duration

	mu      sync.Mutex
	tokens  float64
	expires time.Time

	// turn lets one caller at a time ask the database; the others wait
	// for the slice it brings back.
	turn chan struct{}
}

func newShare(scope graphsync.Scope, b Budget) *share {
	rate, burst, lease := b.bucket()
	return &share{scope: scope, rate: rate, burst: burst, lease: lease, turn: make(chan struct{}, 1)}
}

func (s *share) tryTake(cost float64, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Before(s.expires) && s.tokens >= cost {
		s.tokens -= cost
		return true
	}
	return false
}

// spend waits until cost tokens of the shared budget are this process's.
// rate is the refill the gate asks for: the bucket's, or less after Graph
// throttled or warned (the bucket takes the rate of its latest taker, so a
// process that learned to slow down slows every process). It asks the
// database once per slice, not per request.
// It reports whether it had to wait for the bucket to refill.
func (s *share) spend(ctx context.Context, b Budgets, holder string, cost, rate float64, now func() time.Time) (waited bool, err error) {
	cost = min(cost, s.burst)
	for {
		if s.tryTake(cost, now()) {
			return waited, nil
		}
		select {
		case s.turn <- struct{}{}:
		case <-ctx.Done():
			return waited, ctx.Err()
		}
		if s.tryTake(cost, now()) { // the previous turn brought enough
			<-s.turn
			return waited, nil
		}
		// The slice lapses a lease after it was asked for: the database
		// may have granted it any time after.
		start := now()
		granted, left, err := b.TakeBudget(ctx, s.scope, holder, rate, s.burst, cost, max(cost, math.Ceil(rate*s.lease.Seconds())), s.lease)
		svc := s.scope.Service.String()
		if err != nil {
			<-s.turn
			budgetTakesTotal.WithLabelValues(svc, "error").Inc()
			return waited, fmt.Errorf("take from the %s budget: %w", scopeNoun(s.scope), err)
		}
		if granted >= cost {
			budgetTakesTotal.WithLabelValues(svc, "granted").Inc()
			s.mu.Lock()
			s.tokens, s.expires = granted-cost, start.Add(s.lease)
			s.mu.Unlock()
			<-s.turn
			return waited, nil
		}
		// Keep the turn while waiting: the others would only ask again.
		budgetTakesTotal.WithLabelValues(svc, "empty").Inc()
		wait := max(time.Duration((cost-left)/rate*float64(time.Second)), time.Millisecond)
		budgetWaitSeconds.WithLabelValues(svc).Add(wait.Seconds())
		waited = true
		err = sleep(ctx, wait)
		<-s.turn
		if err != nil {
			return waited, err
		}
	}
}

// newHolder names this process in the budgets' leases.
func newHolder() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}
