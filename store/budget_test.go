package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/pgtest"
)

func TestTakeBudgetNeverGrantsMoreThanTheBucket(t *testing.T) {
	t.Parallel()
	st := pgtest.Store(t)
	ctx := context.Background()
	scope := graphsync.Scope{Tenant: "t1", Service: graphsync.Teams}

	// A new bucket starts full: 10 tokens, refilled at 0.001 per second.
	got, left, err := st.TakeBudget(ctx, scope, "a", 0.001, 10, 1, 4, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got != 4 || left < 5.99 || left > 6.01 {
		t.Fatalf("first take granted %g leaving %g, want 4 leaving 6", got, left)
	}
	// Many holders at once share what is left, and no more.
	var mu sync.Mutex
	var total float64
	holders := map[string]bool{"a": true}
	var wg sync.WaitGroup
	for _, h := range []string{"a", "b", "c", "d", "e", "f"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g, _, err := st.TakeBudget(ctx, scope, h, 0.001, 10, 1, 3, time.Second)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			total += g
			if g > 0 {
				holders[h] = true
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if total != 6 {
		t.Fatalf("concurrent takes granted %g tokens in all, want the 6 left", total)
	}
	// Fewer than need: nothing granted, and what is left says how long to wait.
	got, left, err = st.TakeBudget(ctx, scope, "a", 0.001, 10, 1, 3, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got != 0 || left >= 1 {
		t.Fatalf("empty bucket granted %g leaving %g, want nothing", got, left)
	}

	health, err := st.ReadHealth(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if fill, ok := health.BudgetFill["teams"]; !ok || fill > 0.1 {
		t.Fatalf("health reads the emptied teams budget %g full (%v), want about 0", fill, ok)
	}

	budgets, err := st.Budgets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(budgets) != 1 || budgets[0].Scope != scope || budgets[0].Holders != len(holders) || budgets[0].Taken != 10 || budgets[0].Burst != 10 {
		t.Fatalf("budgets %+v, want one bucket of %s with %d holders having taken 10", budgets, scope, len(holders))
	}
}

func TestTakeBudgetRefillsAtItsRate(t *testing.T) {
	t.Parallel()
	st := pgtest.Store(t)
	ctx := context.Background()
	scope := graphsync.Scope{Tenant: "t1", Service: graphsync.OneDrive}
	if g, _, err := st.TakeBudget(ctx, scope, "a", 20, 5, 5, 5, time.Second); err != nil || g != 5 {
		t.Fatalf("take the whole bucket: granted %g, %v", g, err)
	}
	time.Sleep(300 * time.Millisecond) // 6 tokens at 20 per second, capped at the burst of 5
	g, _, err := st.TakeBudget(ctx, scope, "a", 20, 5, 1, 100, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if g != 5 {
		t.Fatalf("after 300ms at 20/s granted %g, want the burst of 5", g)
	}
	if _, _, err := st.TakeBudget(ctx, scope, "a", 0, 5, 1, 1, time.Second); err == nil {
		t.Fatal("a zero rate was accepted")
	}
}
