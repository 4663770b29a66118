package changes_test

import (
	"context"
	"testing"
	"time"

	"github.com/graphsync/graphsync/changes"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/pgtest"
	"github.com/graphsync/graphsync/store"
)

// Follow wakes on the feed's notification of a commit, not on its poll,
// and hands each change once, in order.
func TestFollowWakesOnCommit(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st := pgtest.Store(t)
	feed := changes.NewFeed(st)
	feed.PollEvery = time.Hour
	from, err := feed.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan graphsync.Change, 10)
	done := make(chan error, 1)
	go func() {
		done <- feed.Follow(ctx, from, changes.Filter{}, 2, func(p changes.Page) error {
			for _, c := range p.Changes {
				got <- c
			}
			return nil
		})
	}()
	for i := range 3 {
		c, err := st.SaveConnection(ctx, &store.Connection{Kind: store.KindDelegated, TenantID: "t", UserID: string(rune('a' + i)),
			Resources: []*graphsync.Resource{graphsync.Mail}}, store.Tokens{RefreshToken: "rt"})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case ch := <-got:
			if ch.Table != graphsync.ConnectionsTable || ch.Connection != c.ID || ch.Op != graphsync.Created {
				t.Fatalf("followed %+v, want connection %d created", ch, c.ID)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("the commit of connection %d did not wake the follower", c.ID)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Follow ended with %v", err)
	}
	if len(got) != 0 {
		t.Fatalf("%d changes followed twice", len(got))
	}
	if _, err := feed.Read(context.Background(), from, changes.Filter{}, 0); err == nil {
		t.Fatal("a read of 0 changes was accepted")
	}
}
