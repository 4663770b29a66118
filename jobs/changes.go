package jobs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/graphsync/graphsync/changes"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

// QueueChanges holds the change feed's jobs, webhook deliveries and
// pruning, apart from the syncs: a dead endpoint never holds a sync worker.
const QueueChanges = "changes"

// WebhookArgs delivers the change feed to one webhook endpoint, batch by
// batch, until it has caught up. One job per endpoint at a time keeps its
// deliveries in order.
type WebhookArgs struct {
	EndpointID int64 `json:"endpoint_id" river:"unique"`
}

// Kind is River's name for the job.
func (WebhookArgs) Kind() string { return "graphsync_webhook" }

// webhookAttempts is high enough that River keeps retrying a dead
// endpoint (every WebhookRetryMax) for longer than the feed keeps changes;
// the endpoint is reported failing meanwhile.
const webhookAttempts = 10_000

// InsertOpts keeps one delivery per endpoint pending or running.
func (WebhookArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueChanges, UniqueOpts: uniqueWhileActive, MaxAttempts: webhookAttempts}
}

type webhookWorker struct {
	river.WorkerDefaults[WebhookArgs]
	svc *Service
}

// webhookBudget bounds one job's deliveries; a longer catch-up continues
// in a new run, so endpoints take turns at the queue's workers.
const webhookBudget = 30 * time.Second

func (w *webhookWorker) Timeout(*river.Job[WebhookArgs]) time.Duration {
	return webhookBudget + 2*w.svc.cfg.Webhook.Timeout
}

// NextRetry backs off exponentially from WebhookRetry to WebhookRetryMax.
func (w *webhookWorker) NextRetry(job *river.Job[WebhookArgs]) time.Time {
	d := w.svc.cfg.WebhookRetry
	for i := 1; i < job.Attempt && d < w.svc.cfg.WebhookRetryMax; i++ {
		d *= 2
	}
	return time.Now().Add(min(d, w.svc.cfg.WebhookRetryMax))
}

// Work delivers until the endpoint has caught up, then completes the job
// in a transaction holding the endpoint's row: a kick that came meanwhile
// (its job insert skipped, this one still running) sends it round again,
// and one that comes after finds it completed and inserts the next.
func (w *webhookWorker) Work(ctx context.Context, job *river.Job[WebhookArgs]) error {
	st, id := w.svc.store, job.Args.EndpointID
	deadline := time.Now().Add(webhookBudget)
	for {
		kicks, err := st.WebhookKicks(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return river.JobCancel(changes.ErrEndpointGone)
		}
		if err != nil {
			return err
		}
		for more := true; more; {
			d, err := w.svc.deliverer.Deliver(ctx, id)
			if errors.Is(err, changes.ErrEndpointGone) {
				return river.JobCancel(err)
			}
			if err != nil {
				return err
			}
			if more = d.More; more && time.Now().After(deadline) {
				return river.JobSnooze(0)
			}
		}
		done := false
		err = st.InTx(ctx, func(tx store.Tx) error {
			now, err := st.LockWebhookTx(ctx, tx, id)
			if err != nil || now != kicks {
				return err
			}
			_, err = river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job)
			done = err == nil
			return err
		})
		if errors.Is(err, store.ErrNotFound) {
			return river.JobCancel(changes.ErrEndpointGone)
		}
		if err != nil || done {
			return err
		}
	}
}

// PruneChangesArgs is the periodic job that prunes the change feed.
type PruneChangesArgs struct{}

// Kind is River's name for the job.
func (PruneChangesArgs) Kind() string { return "graphsync_prune_changes" }

// InsertOpts runs one pruning at a time across every process.
func (PruneChangesArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueChanges, UniqueOpts: uniqueWhileActive, MaxAttempts: 3}
}

type pruneWorker struct {
	river.WorkerDefaults[PruneChangesArgs]
	svc *Service
}

func (w *pruneWorker) Work(ctx context.Context, job *river.Job[PruneChangesArgs]) error {
	if _, err := w.svc.PruneChanges(ctx); err != nil {
		return err
	}
	// Ended connect sessions are kept a week for operators, then go with
	// the same hourly round.
	n, err := w.svc.store.PruneConnectSessions(ctx, time.Now().Add(-connectSessionsKept))
	if n > 0 {
		w.svc.log.InfoContext(ctx, "pruned connect sessions", "sessions", n)
	}
	return err
}

// connectSessionsKept is how long a connect session's row outlives its
// expiry.
const connectSessionsKept = 7 * 24 * time.Hour

// PruneChanges deletes the change feed's entries older than
// ChangesRetention and, with PruneConsumed, those every webhook endpoint
// has received. It returns how many it deleted.
func (s *Service) PruneChanges(ctx context.Context) (int64, error) {
	var consumers []graphsync.Cursor
	if s.cfg.PruneConsumed {
		eps, err := s.store.Webhooks(ctx)
		if err != nil {
			return 0, err
		}
		for _, ep := range eps {
			consumers = append(consumers, ep.Cursor)
		}
	}
	n, err := s.store.PruneChanges(ctx, time.Now().Add(-s.cfg.ChangesRetention), consumers)
	if n > 0 {
		s.log.InfoContext(ctx, "pruned the change feed", "entries", n, "retention", s.cfg.ChangesRetention.String())
	}
	return n, err
}

// EnqueueWebhooks inserts a delivery job for every webhook endpoint whose
// filter keeps one of notices (every endpoint when notices is empty); an
// endpoint's job already pending or running (or waiting to retry) makes
// its insert a no-op.
func (s *Service) EnqueueWebhooks(ctx context.Context, client *river.Client[store.Tx], notices ...store.ChangeNotice) (int, error) {
	eps, err := s.store.Webhooks(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, ep := range eps {
		if len(notices) > 0 && !slices.ContainsFunc(notices, func(n store.ChangeNotice) bool { return keeps(ep.Filter, n) }) {
			continue
		}
		err := s.store.InTx(ctx, func(tx store.Tx) error {
			if err := s.store.KickWebhookTx(ctx, tx, ep.ID); err != nil {
				return err
			}
			res, err := client.InsertTx(ctx, tx, WebhookArgs{EndpointID: ep.ID}, nil)
			if err == nil && !res.UniqueSkippedAsDuplicate {
				n++
			}
			return err
		})
		if err != nil {
			return n, fmt.Errorf("enqueue webhook deliveries: %w", err)
		}
	}
	return n, nil
}

// keeps reports whether a filter keeps the changes a notice announces.
func keeps(f store.ChangeFilter, n store.ChangeNotice) bool {
	return (len(f.Resources) == 0 || n.Resource == "" || slices.Contains(f.Resources, n.Resource)) &&
		(len(f.Connections) == 0 || slices.Contains(f.Connections, n.Connection))
}

// webhookDebounce gathers the notices of a burst of commits into one round
// of inserts.
const webhookDebounce = 100 * time.Millisecond

// KickWebhooks enqueues webhook deliveries as changes commit, woken by the
// feed's notifications, until ctx ends; the scheduler's pass catches what
// a lost notification would miss. Run it in every worker process.
func (s *Service) KickWebhooks(ctx context.Context, client *river.Client[store.Tx]) {
	notices := make(chan store.ChangeNotice, 1024)
	var overflow atomic.Bool
	go func() {
		for ctx.Err() == nil {
			err := s.store.ListenChanges(ctx, nil, func(n store.ChangeNotice) {
				select {
				case notices <- n:
				default:
					overflow.Store(true)
				}
			})
			if err != nil && ctx.Err() == nil {
				s.log.WarnContext(ctx, "listen for changes; webhook deliveries wait for the scheduler meanwhile", "error", err)
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
		}
	}()
	for {
		var batch []store.ChangeNotice
		select {
		case <-ctx.Done():
			return
		case n := <-notices:
			batch = append(batch, n)
		}
		timer := time.NewTimer(webhookDebounce)
	gather:
		for {
			select {
			case n := <-notices:
				batch = append(batch, n)
			case <-timer.C:
				break gather
			case <-ctx.Done():
				timer.Stop()
				return
			}
		}
		if overflow.Swap(false) {
			batch = nil // some were dropped: every endpoint
		}
		if _, err := s.EnqueueWebhooks(ctx, client, batch...); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "enqueue webhook deliveries", "error", err)
		}
	}
}
