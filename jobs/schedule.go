package jobs

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
)

// ScheduleArgs is the periodic job that enqueues due syncs and refreshes.
type ScheduleArgs struct{}

// Kind is River's name for the job.
func (ScheduleArgs) Kind() string { return "graphsync_schedule" }

// InsertOpts runs one scheduler at a time across every process.
func (ScheduleArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueTokens, UniqueOpts: uniqueWhileActive, MaxAttempts: 3}
}

type scheduleWorker struct {
	river.WorkerDefaults[ScheduleArgs]
	svc *Service
}

func (w *scheduleWorker) Work(ctx context.Context, job *river.Job[ScheduleArgs]) error {
	_, err := w.svc.Schedule(ctx, river.ClientFromContext[pgx.Tx](ctx))
	return err
}

// Schedule enqueues every due sync and refresh. Syncs are spread over the
// scheduler's period by a hash of connection and resource, so ten thousand
// connections do not all fire in the same second; uniqueness keeps one job
// per connection and resource pending. It returns how many jobs it inserted.
func (s *Service) Schedule(ctx context.Context, client *river.Client[pgx.Tx]) (int, error) {
	now := time.Now()
	due, err := s.store.DueSyncs(ctx, s.cfg.SyncInterval)
	if err != nil {
		return 0, err
	}
	var params []river.InsertManyParams
	for _, d := range due {
		if len(s.cfg.Resources) > 0 && !slices.Contains(s.cfg.Resources, d.Resource) {
			continue
		}
		if _, ok := syncers[d.Resource]; !ok {
			continue
		}
		at := now.Add(spread(d.ConnectionID, d.Resource, s.cfg.ScheduleEvery))
		params = append(params, river.InsertManyParams{Args: SyncArgs{ConnectionID: d.ConnectionID, Resource: d.Resource},
			InsertOpts: &river.InsertOpts{ScheduledAt: at}})
	}
	refresh, err := s.store.DueRefreshes(ctx, now.Add(s.cfg.RefreshAhead+s.cfg.ScheduleEvery))
	if err != nil {
		return 0, err
	}
	for _, d := range refresh {
		at := d.At.Add(-s.cfg.RefreshAhead)
		params = append(params, river.InsertManyParams{Args: RefreshArgs{ConnectionID: d.ConnectionID},
			InsertOpts: &river.InsertOpts{ScheduledAt: at}})
	}
	inserted := 0
	for chunk := range slices.Chunk(params, 1000) {
		res, err := client.InsertMany(ctx, chunk)
		if err != nil {
			return inserted, fmt.Errorf("schedule: insert jobs: %w", err)
		}
		for _, r := range res {
			if !r.UniqueSkippedAsDuplicate {
				inserted++
			}
		}
	}
	return inserted, nil
}

// EnqueueSync inserts sync jobs now for a connection's resources (all of its
// enabled resources when resources is empty).
func (s *Service) EnqueueSync(ctx context.Context, client *river.Client[pgx.Tx], connectionID int64, resources []string) (int, error) {
	conns, err := s.store.Connections(ctx)
	if err != nil {
		return 0, err
	}
	var params []river.InsertManyParams
	for _, c := range conns {
		if connectionID != 0 && c.ID != connectionID {
			continue
		}
		for _, res := range c.Resources {
			if len(resources) > 0 && !slices.Contains(resources, res) {
				continue
			}
			params = append(params, river.InsertManyParams{Args: SyncArgs{ConnectionID: c.ID, Resource: res}})
		}
	}
	if len(params) == 0 {
		return 0, nil
	}
	res, err := client.InsertMany(ctx, params)
	if err != nil {
		return 0, fmt.Errorf("enqueue syncs: %w", err)
	}
	return len(res), nil
}

func spread(connectionID int64, resource string, period time.Duration) time.Duration {
	if period <= 0 {
		return 0
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%s", connectionID, resource)
	return time.Duration(h.Sum64() % uint64(period))
}
