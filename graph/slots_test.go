package graph

import (
	"context"
	"testing"
	"time"
)

// A batch of 4 Outlook requests runs them 4 at once whatever the cap: after
// a cut to 2 it must hold 4 slots, so that nobody joins it when the cap
// grows back while it is in flight.
func TestBatchHoldsItsSlotsAfterACut(t *testing.T) {
	t.Parallel()
	s := newSlots(4)
	s.setLimit(2)
	ctx := context.Background()
	held, _, err := s.acquire(ctx, 4)
	if err != nil {
		t.Fatal(err)
	}
	if held != 4 {
		t.Fatalf("batch of 4 holds %d slots under a cap of 2", held)
	}
	s.setLimit(4) // grown back while the batch is in flight
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if n, _, err := s.acquire(short, 1); err == nil {
		t.Fatalf("a 5th request took %d slot beside a batch of 4 in flight", n)
	}
	s.release(held)
	n, _, err := s.acquire(ctx, 1)
	if err != nil || n != 1 {
		t.Fatalf("after the batch: held %d, %v", n, err)
	}
	// A batch waits for the requests in flight rather than join them.
	short2, cancel2 := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel2()
	if _, _, err := s.acquire(short2, 4); err == nil {
		t.Fatal("a batch of 4 left beside a request in flight")
	}
}
