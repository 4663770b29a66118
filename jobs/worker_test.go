package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertest"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/jobs"
	"github.com/graphsync/graphsync/store"
)

// The sync worker worked one job at a time with River's rivertest, its job
// row in a transaction rolled back at the end: a job syncs the mailbox and
// completes; an open Retry-After window snoozes it without a request to
// Graph; a disabled connection completes without syncing; a deleted one is
// cancelled.
func TestSyncWorker(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{Users: 1, MessagesPerUser: 30}, noWorkers: true})
	ctx := context.Background()
	conn := b.conns[0]
	worker := rivertest.NewWorker(t, b.store.RiverDriver(), &river.Config{}, b.svc.SyncWorker())
	work := func(args jobs.SyncArgs) river.EventKind {
		t.Helper()
		tx, err := b.store.Pool().Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback(ctx) }()
		res, err := worker.Work(ctx, t, tx, args, nil)
		if err != nil {
			t.Fatal(err)
		}
		return res.EventKind
	}
	requests := func() int64 {
		var n int64
		for _, byStatus := range b.em.Counters().Requests {
			for _, c := range byStatus {
				n += c
			}
		}
		return n
	}

	if kind := work(jobs.SyncArgs{ConnectionID: conn.ID, UserID: conn.UserID}); kind != river.EventKindJobCompleted {
		t.Fatalf("sync job: %s, want completed", kind)
	}
	b.assertMailMatchesTruth(t)

	scope := graphsync.ScopeOf(graphsync.Outlook, conn.TenantID, conn.UserID)
	if err := b.store.SetThrottle(ctx, scope, time.Now().Add(time.Minute), "test"); err != nil {
		t.Fatal(err)
	}
	b.em.ResetCounters()
	if kind := work(jobs.SyncArgs{ConnectionID: conn.ID, UserID: conn.UserID}); kind != river.EventKindJobSnoozed {
		t.Fatalf("sync job in a throttle window: %s, want snoozed", kind)
	}
	if n := requests(); n != 0 {
		t.Fatalf("%d requests went to Graph inside the window", n)
	}

	if err := b.store.SetStatus(ctx, conn.ID, store.StatusDisabled, "disabled", "test"); err != nil {
		t.Fatal(err)
	}
	if kind := work(jobs.SyncArgs{ConnectionID: conn.ID, UserID: conn.UserID}); kind != river.EventKindJobCompleted || requests() != 0 {
		t.Fatalf("sync job of a disabled connection: %s after %d requests, want completed without any", kind, requests())
	}
	if kind := work(jobs.SyncArgs{ConnectionID: conn.ID + 1000}); kind != river.EventKindJobCancelled {
		t.Fatalf("sync job of a deleted connection: %s, want cancelled", kind)
	}
}
