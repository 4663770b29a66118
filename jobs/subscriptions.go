package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

// SubscriptionsArgs is the periodic job that creates, renews and removes
// change-notification subscriptions.
type SubscriptionsArgs struct{}

// Kind is River's name for the job.
func (SubscriptionsArgs) Kind() string { return "graphsync_subscriptions" }

// InsertOpts runs one at a time across every process, on the queue of
// tokens and schedules: a sync backlog never delays a renewal.
func (SubscriptionsArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueTokens, UniqueOpts: uniqueWhileActive, MaxAttempts: 3}
}

type subscriptionsWorker struct {
	river.WorkerDefaults[SubscriptionsArgs]
	svc *Service
}

func (w *subscriptionsWorker) Timeout(*river.Job[SubscriptionsArgs]) time.Duration {
	return 5 * time.Minute
}

func (w *subscriptionsWorker) Work(ctx context.Context, job *river.Job[SubscriptionsArgs]) error {
	s := w.svc
	if s.cfg.Subscriptions == nil {
		return nil
	}
	client, err := clientFrom(ctx)
	if err != nil {
		return err
	}
	// A lifecycle event that asks for a renewal while the round runs finds
	// this job running (one at a time) and queues nothing: the round looks
	// again, and ends in the transaction that finds nothing due.
	for range 3 {
		start := time.Now()
		created, err := s.cfg.Subscriptions.Reconcile(ctx)
		// What changed before a stream was subscribed was not notified:
		// each is synced once (the store counted its creation as a
		// notification, so a job already running for the mailbox syncs it
		// again instead).
		for _, st := range created {
			if qerr := s.enqueueStream(ctx, client, st, time.Time{}); qerr != nil {
				return errors.Join(err, qerr)
			}
		}
		if err != nil {
			return err
		}
		if time.Since(start) > time.Minute {
			// A backlog (a fleet's first round): the next period goes on.
			return nil
		}
		settled := false
		if err := s.store.InTx(ctx, func(tx store.Tx) error {
			var err error
			if settled, err = s.cfg.Subscriptions.SettledTx(ctx, tx); err != nil || !settled {
				return err
			}
			return store.CompleteJob(ctx, tx, job)
		}); err != nil || settled {
			return err
		}
	}
	// Still due after three rounds (failures retried at once, or more than
	// a round's budget): the next period goes on.
	return nil
}

// EnqueueNotified queues a sync of one mailbox's resource because Graph
// said it changed at notifiedAt. A burst of notifications for one mailbox
// queues one job (River's uniqueness); a job already running for it checks
// for notifications that arrived meanwhile before it ends, and syncs again.
func (s *Service) EnqueueNotified(ctx context.Context, client *river.Client[store.Tx], conn int64, user string, r *graphsync.Resource, notifiedAt time.Time) error {
	return s.enqueueStream(ctx, client, graphsync.Stream{Connection: conn, User: user, Resource: r}, notifiedAt)
}

// enqueueStream queues a sync of one top-level stream: a mailbox's
// resource, or an application connection's user discovery.
func (s *Service) enqueueStream(ctx context.Context, client *river.Client[store.Tx], st graphsync.Stream, notifiedAt time.Time) error {
	args := SyncArgs{ConnectionID: st.Connection, UserID: st.User, Resources: []string{st.Resource.Name()}, NotifiedAt: notifiedAt}
	res, err := client.Insert(ctx, args, nil)
	if err != nil {
		return fmt.Errorf("queue the sync of %s: %w", st, err)
	}
	// The mailbox's job already exists. If it is a scheduled pass, spread
	// over the interval and not yet attempted, it runs now instead (and
	// picks the notified resource up as it starts). A job snoozed or
	// backing off keeps its wait: Graph or an error asked for it.
	if j := res.Job; res.UniqueSkippedAsDuplicate && j.State == rivertype.JobStateScheduled &&
		j.AttemptedAt == nil && time.Until(j.ScheduledAt) > time.Second {
		if _, err := client.JobRetry(ctx, j.ID); err != nil {
			return fmt.Errorf("run the scheduled sync of %s now: %w", st, err)
		}
	}
	return nil
}

// EnqueueSubscriptions queues a round of the subscriptions job now, rather
// than at its next period: Graph asked for a renewal or removed one.
func (s *Service) EnqueueSubscriptions(ctx context.Context, client *river.Client[store.Tx]) error {
	if _, err := client.Insert(ctx, SubscriptionsArgs{}, nil); err != nil {
		return fmt.Errorf("queue the subscriptions job: %w", err)
	}
	return nil
}
