package graph

import (
	"cmp"
	"slices"
	"time"

	"github.com/graphsync/graphsync/graphsync"
)

// GateState is one gate of this process as status shows it.
type GateState struct {
	Scope graphsync.Scope
	// Rate is what the gate lets through now and ConfiguredRate what it
	// would without Graph's answers, in requests (or resource units) per
	// second; both 0 for a gate without a rate.
	Rate, ConfiguredRate float64
	// Concurrency is the cap on requests in flight in use, MaxConcurrency
	// the configured one; both 0 for a gate without a cap.
	Concurrency, MaxConcurrency int
	// LearnedRate is the rate Graph last throttled the gate at; 0 when
	// none is known.
	LearnedRate float64
	// Throttles counts the cuts on 429 or 503 since the gate was created.
	Throttles int64
	// BlockedUntil is the end of its Retry-After window; zero when open.
	BlockedUntil time.Time
}

// Slowed reports whether Graph's answers hold the gate below its
// configured rate or concurrency.
func (s GateState) Slowed() bool {
	return s.Rate < s.ConfiguredRate || s.Concurrency < s.MaxConcurrency
}

// Share is the part of its configured rate the gate allows; 1 for a gate
// without a rate.
func (s GateState) Share() float64 {
	if s.ConfiguredRate == 0 {
		return 1
	}
	return s.Rate / s.ConfiguredRate
}

// Holder names this process where it shares state through the database:
// tenant budgets' leases and published gate snapshots.
func (c *Client) Holder() string { return c.gates.holder }

// GateStates is a snapshot of this process's gates: every tenant service's,
// and of the mailboxes' (there may be tens of thousands) those slowed,
// blocked or ever throttled, at most limit of them, the slowest first. It
// also sets the graphsync_graph_gate_* gauges from every gate.
func (c *Client) GateStates(limit int) []GateState {
	now := c.now()
	c.gates.mu.Lock()
	all := make([]*gate, 0, len(c.gates.m))
	blocked := make(map[*gate]time.Time)
	for _, g := range c.gates.m {
		all = append(all, g)
		if now.Before(g.blockedUntil) {
			blocked[g] = g.blockedUntil
		}
	}
	c.gates.mu.Unlock()

	type agg struct {
		gates, slowed         int
		rate, configured, con float64
	}
	sums := map[string]*agg{}
	var tenants, mailboxes []GateState
	for _, g := range all {
		s := g.state(now)
		s.BlockedUntil = blocked[g]
		svc := g.adapt.service
		a := sums[svc]
		if a == nil {
			a = &agg{}
			sums[svc] = a
		}
		a.gates++
		a.rate += s.Rate
		a.configured += s.ConfiguredRate
		a.con += float64(s.Concurrency)
		if s.Slowed() {
			a.slowed++
		}
		switch {
		case !g.scope.IsMailbox():
			tenants = append(tenants, s)
		case s.Slowed() || s.Throttles > 0 || !s.BlockedUntil.IsZero():
			mailboxes = append(mailboxes, s)
		}
	}
	for _, svc := range gateServices {
		a := sums[svc]
		if a == nil {
			a = &agg{}
		}
		gatesHeld.WithLabelValues(svc).Set(float64(a.gates))
		gateRate.WithLabelValues(svc).Set(a.rate)
		gateConfiguredRate.WithLabelValues(svc).Set(a.configured)
		gateConcurrency.WithLabelValues(svc).Set(a.con)
	}
	slices.SortFunc(mailboxes, func(a, b GateState) int {
		return cmp.Or(cmp.Compare(a.Share(), b.Share()), cmp.Compare(a.Scope.String(), b.Scope.String()))
	})
	slices.SortFunc(tenants, func(a, b GateState) int { return cmp.Compare(a.Scope.String(), b.Scope.String()) })
	out := append(tenants, mailboxes...)
	return out[:min(len(out), max(limit, 0))]
}

// gateServices are the services whose gauges are always set.
var gateServices = []string{graphsync.Outlook.String(), graphsync.Teams.String(), graphsync.OneDrive.String(), graphsync.Directory.String()}

// state is the gate's GateState but for its window.
func (g *gate) state(now time.Time) GateState {
	s := GateState{Scope: g.scope, ConfiguredRate: g.base}
	a := g.adapt
	if g.base > 0 {
		s.Rate = a.rate(g.base, now)
	}
	a.mu.Lock()
	s.Concurrency, s.MaxConcurrency = int(a.conc), int(a.maxConc)
	s.LearnedRate = a.learned * g.base
	s.Throttles = a.throttles
	a.mu.Unlock()
	return s
}
