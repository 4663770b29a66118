package graph_test

import (
	"testing"
	"time"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graph"
	"github.com/graphsync/graphsync/graphsync"
)

// A response slower than Config.Timeout is given up on and the GET
// retried; once Graph answers in time the page arrives.
func TestClientTimeout(t *testing.T) {
	t.Parallel()
	b := setup(t, emulator.Config{})
	tok := b.signIn(t, []string{"offline_access", "Mail.Read"})
	c := b.client(t, graph.Config{Timeout: 300 * time.Millisecond, MaxRetries: 5})
	b.srv.SetFaults(emulator.Faults{Slow: 1, SlowBy: 2 * time.Second})
	call := graph.Call{Token: tok.AccessToken, Mailbox: b.user.ID, Service: graphsync.Outlook, Resource: "mail"}
	start := time.Now()
	if _, err := c.GetPage(ctx(t), call, "/me/mailFolders/delta"); err == nil {
		t.Fatal("every response was slower than the timeout, yet the GET succeeded")
	}
	// Waiting out the slow responses would take 6 × 2s.
	if d := time.Since(start); d > 6*time.Second {
		t.Errorf("six attempts took %s: the timeout was not applied", d)
	}
	b.srv.SetFaults(emulator.Faults{})
	if _, err := c.GetPage(ctx(t), call, "/me/mailFolders/delta"); err != nil {
		t.Fatalf("without slow responses: %v", err)
	}
	if _, err := graph.NewClient(graph.Config{BaseURL: b.srv.URL(), Timeout: -time.Second}); err == nil {
		t.Error("a negative Timeout was accepted")
	}
}
