package graph_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/graphsync/graphsync/graph"
)

// fakeClock drives the gate bookkeeping (idle times, windows); rate
// limiters keep real time.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestGatesAreEvictedWhenIdle(t *testing.T) {
	t.Parallel()
	c, err := graph.NewClient(graph.Config{BaseURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	graph.SetClock(c, clock.now)

	const mailboxes = 10000
	for i := range mailboxes {
		c.Block(mailbox(fmt.Sprintf("user-%d@contoso.com", i)), clock.now().Add(time.Second))
	}
	c.Block(mailbox("throttled@contoso.com"), clock.now().Add(time.Hour))
	if n := graph.GateCount(c); n != mailboxes+1 {
		t.Fatalf("gates = %d, want %d", n, mailboxes+1)
	}
	if got := c.BlockedUntil(mailbox("user-1@contoso.com")); !got.Equal(clock.now().Add(time.Second)) {
		t.Fatalf("BlockedUntil = %v", got)
	}

	// A sweep runs on the next call once the idle period has passed; the
	// call itself fails fast (nothing listens on port 1) but registers.
	clock.add(11 * time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.Get(ctx, graph.Call{Mailbox: "fresh@contoso.com", Resource: "me"}, "/me", new(struct{}))

	if n := graph.GateCount(c); n != 2 {
		t.Fatalf("after sweep gates = %d, want 2 (the open window and the fresh mailbox)", n)
	}
	if got := c.BlockedUntil(mailbox("user-1@contoso.com")); !got.IsZero() {
		t.Fatalf("evicted mailbox BlockedUntil = %v, want zero", got)
	}
	if got := c.BlockedUntil(mailbox("throttled@contoso.com")); got.IsZero() {
		t.Fatal("a mailbox inside its window was evicted")
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"10", 10 * time.Second, true},
		{" 0 ", 0, true},
		{"1.5", 1500 * time.Millisecond, true},
		{"Sat, 01 Mar 2025 12:00:31 GMT", 31 * time.Second, true},
		{"Sat, 01 Mar 2025 11:00:00 GMT", 0, true},
		{"", 0, false},
		{"-3", 0, false},
		{"soon", 0, false},
	}
	for _, tt := range tests {
		got, ok := graph.ParseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestNewClientValidates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cfg   graph.Config
		field string
	}{
		{graph.Config{}, "BaseURL"},
		{graph.Config{BaseURL: "graph.microsoft.com"}, "BaseURL"},
		{graph.Config{BaseURL: "https://graph.microsoft.com/v1.0"}, "BaseURL"},
		{graph.Config{BaseURL: "https://graph.microsoft.com", MaxPageSize: -1}, "MaxPageSize"},
		{graph.Config{BaseURL: "https://graph.microsoft.com", MailboxConcurrency: -1}, "MailboxConcurrency"},
		{graph.Config{BaseURL: "https://graph.microsoft.com", MaxRetries: -1}, "MaxRetries"},
	}
	for _, tt := range tests {
		_, err := graph.NewClient(tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("NewClient(%+v) = %v, want an error naming %s", tt.cfg, err, tt.field)
		}
	}
	if _, err := graph.NewClient(graph.Config{BaseURL: "https://graph.microsoft.com"}); err != nil {
		t.Fatal(err)
	}
}

func TestLinksOffOriginAreRefused(t *testing.T) {
	t.Parallel()
	c, err := graph.NewClient(graph.Config{BaseURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetPage(context.Background(), graph.Call{Token: "secret-token", Resource: "mail"},
		"https://evil.example.com/v1.0/me/messages?$skiptoken=x")
	if err == nil {
		t.Fatal("a link to another host was followed")
	}
	if strings.Contains(err.Error(), "secret-token") {
		t.Fatalf("error leaks the token: %v", err)
	}
}

// TestTurnPastDeadlineIsNotSent: with the mailbox's bucket spent, a request
// whose turn would come after its context's deadline returns at once with
// ErrTurnPastDeadline (a context.DeadlineExceeded, the context still live)
// instead of waiting for nothing.
func TestTurnPastDeadlineIsNotSent(t *testing.T) {
	t.Parallel()
	c, err := graph.NewClient(graph.Config{BaseURL: "http://127.0.0.1:1", MailboxRate: 1, MailboxBurst: 1, FixedGates: true})
	if err != nil {
		t.Fatal(err)
	}
	call := graph.Call{Mailbox: "slow@contoso.com", Resource: "me"}
	first, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_ = c.Get(first, call, "/me", new(struct{})) // spends the burst; nothing listens on port 1
	cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = c.Get(ctx, call, "/me", new(struct{}))
	if !errors.Is(err, graph.ErrTurnPastDeadline) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrTurnPastDeadline", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("the call waited until its context expired (%s) instead of returning at once", time.Since(start))
	}
}
