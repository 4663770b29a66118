package graph_test

import (
	"testing"
	"time"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graph"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/emutest"
)

// A response slower than Config.Timeout is given up on and the GET
// retried; once Graph answers in time the page arrives.
func TestClientTimeout(t *testing.T) {
	t.Parallel()
	b := emutest.Setup(t, emulator.Config{})
	tok := b.SignIn(t, []string{"offline_access", "Mail.Read"})
	c := newClient(t, b, graph.Config{Timeout: 300 * time.Millisecond, MaxRetries: 5})
	b.Srv.SetFaults(emulator.Faults{Slow: 1, SlowBy: 2 * time.Second})
	call := graph.Call{Token: tok.AccessToken, Mailbox: b.User.ID, Service: graphsync.Outlook, Resource: "mail"}
	start := time.Now()
	if _, err := c.GetPage(emutest.Context(t), call, "/me/mailFolders/delta"); err == nil {
		t.Fatal("every response was slower than the timeout, yet the GET succeeded")
	}
	// Waiting out the slow responses would take 6 × 2s.
	if d := time.Since(start); d > 6*time.Second {
		t.Errorf("six attempts took %s: the timeout was not applied", d)
	}
	b.Srv.SetFaults(emulator.Faults{})
	if _, err := c.GetPage(emutest.Context(t), call, "/me/mailFolders/delta"); err != nil {
		t.Fatalf("without slow responses: %v", err)
	}
	if _, err := graph.NewClient(graph.Config{BaseURL: b.Srv.URL(), Timeout: -time.Second}); err == nil {
		t.Error("a negative Timeout was accepted")
	}
}
