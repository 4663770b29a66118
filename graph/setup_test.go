package graph_test

import (
	"testing"
	"time"

	"github.com/graphsync/graphsync/graph"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/emutest"
)

// newClient is a client of the bundle's emulator with short backoffs.
func newClient(t *testing.T, b *emutest.Bundle, cfg graph.Config) *graph.Client {
	t.Helper()
	c := b.Client(t, cfg)
	graph.SetBackoff(c, 5*time.Millisecond, 50*time.Millisecond)
	return c
}

func mailScopes() []string { return graphsync.DelegatedScopes([]*graphsync.Resource{graphsync.Mail}) }

// mailbox is the throttling scope of a mailbox in calls that name no tenant.
func mailbox(id string) graphsync.Scope { return graphsync.ScopeOf(graphsync.Outlook, "", id) }
