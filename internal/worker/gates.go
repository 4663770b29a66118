package worker

import (
	"context"
	"time"

	"github.com/graphsync/graphsync/store"
)

// Gates live in each process's memory; status reads them from the
// snapshot each process publishes every gatesEvery, which lapses after
// gatesTTL unless replaced (a process that stopped no longer shows).
const (
	gatesEvery = 5 * time.Second
	gatesTTL   = 30 * time.Second
	// maxGatesPublished bounds a snapshot: every tenant service's gate,
	// and of the mailboxes' the slowest.
	maxGatesPublished = 500
)

// PublishGates publishes this process's gates every gatesEvery until ctx
// ends (GateStates also sets the graphsync_graph_gate_* gauges). A failure is logged and
// tried again at the next tick: status only shows less for a while.
func (w *Worker) PublishGates(ctx context.Context) {
	t := time.NewTicker(gatesEvery)
	defer t.Stop()
	for {
		if err := w.publishGates(ctx); err != nil && ctx.Err() == nil {
			w.log.Warn("cannot publish the gates' state for status", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (w *Worker) publishGates(ctx context.Context) error {
	gs := w.Graph.GateStates(maxGatesPublished)
	states := make([]store.GateState, len(gs))
	for i, g := range gs {
		states[i] = store.GateState{Scope: g.Scope, Rate: g.Rate, ConfiguredRate: g.ConfiguredRate,
			Concurrency: g.Concurrency, MaxConcurrency: g.MaxConcurrency, LearnedRate: g.LearnedRate,
			Throttles: g.Throttles, BlockedUntil: g.BlockedUntil}
	}
	return w.Store.PublishGates(ctx, w.Graph.Holder(), states, gatesTTL)
}
