package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"

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
	if w.svc.cfg.Subscriptions == nil {
		return nil
	}
	return w.svc.cfg.Subscriptions.Reconcile(ctx)
}

// EnqueueNotified queues a sync of one mailbox's resource because Graph
// said it changed at notifiedAt. A burst of notifications for one mailbox
// queues one job (River's uniqueness); a job already running for it checks
// for notifications that arrived meanwhile before it ends, and syncs again.
func (s *Service) EnqueueNotified(ctx context.Context, client *river.Client[store.Tx], conn int64, user string, r *graphsync.Resource, notifiedAt time.Time) error {
	args := SyncArgs{ConnectionID: conn, UserID: user, NotifiedAt: notifiedAt}
	if r != graphsync.Users {
		args.Resources = []string{r.Name()}
	}
	if _, err := client.Insert(ctx, args, nil); err != nil {
		return fmt.Errorf("queue the sync of connection %d %s: %w", conn, r, err)
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
