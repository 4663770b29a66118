package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer lets the test read output while run writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRunRefusesRemoteAddress(t *testing.T) {
	t.Parallel()
	err := run(context.Background(), []string{"-addr", "0.0.0.0:0"}, &syncBuffer{})
	if err == nil || !strings.Contains(err.Error(), "-allow-remote") {
		t.Fatalf("got %v, want a refusal naming -allow-remote", err)
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"-profile", "nope"}, {"-latency", "300ms-100ms"}, {"-notify-scale", "-1"}} {
		if err := run(context.Background(), append([]string{"-addr", "127.0.0.1:0"}, args...), &syncBuffer{}); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

func TestRunServesUntilCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-users", "2", "-messages", "3", "-profile", "strict"}, out)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "client_secret=") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []string{"GRAPHSYNC_GRAPH_URL=http://127.0.0.1:", "client_id=graphsync-test-client", "user: "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop")
	}
}
