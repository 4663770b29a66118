package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/pgtest"
	"github.com/graphsync/graphsync/store"
)

func TestPublishGatesReplacesAndLapses(t *testing.T) {
	t.Parallel()
	st := pgtest.Store(t)
	ctx := context.Background()
	mailbox := graphsync.Scope{Tenant: "t1", Service: graphsync.Outlook, Mailbox: "m1"}
	teams := graphsync.Scope{Tenant: "t1", Service: graphsync.Teams}
	until := time.Now().Add(time.Minute).Truncate(time.Microsecond)
	a := []store.GateState{
		{Scope: mailbox, Rate: 8.5, ConfiguredRate: 16.7, Concurrency: 2, MaxConcurrency: 4, LearnedRate: 10, Throttles: 3, BlockedUntil: until},
		{Scope: teams, Rate: 18, ConfiguredRate: 18},
	}
	if err := st.PublishGates(ctx, "worker-a", a, time.Minute); err != nil {
		t.Fatal(err)
	}
	// worker-b stopped: its snapshot lapses.
	if err := st.PublishGates(ctx, "worker-b", []store.GateState{{Scope: teams, Rate: 9, ConfiguredRate: 18}}, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	got, err := st.GateStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d gates, want worker-a's 2 only: %+v", len(got), got)
	}
	m := got[0] // mailbox:... sorts before tenant:...
	if m.Holder != "worker-a" || m.Scope != mailbox || m.Rate != 8.5 || m.ConfiguredRate != 16.7 || m.Concurrency != 2 ||
		m.MaxConcurrency != 4 || m.LearnedRate != 10 || m.Throttles != 3 || !m.BlockedUntil.Equal(until) || m.PublishedAt.IsZero() {
		t.Fatalf("mailbox gate read back as %+v", m)
	}
	if got[1].Scope != teams || !got[1].BlockedUntil.IsZero() {
		t.Fatalf("teams gate read back as %+v", got[1])
	}
	// A new snapshot replaces the holder's previous one whole.
	if err := st.PublishGates(ctx, "worker-a", a[1:], time.Minute); err != nil {
		t.Fatal(err)
	}
	if got, err = st.GateStates(ctx); err != nil || len(got) != 1 || got[0].Scope != teams {
		t.Fatalf("after republishing: %+v, %v", got, err)
	}
	if err := st.PublishGates(ctx, "", nil, time.Minute); err == nil {
		t.Fatal("publishing without a holder succeeded")
	}
}
