package jobs

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/graphsync/graphsync/store"
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
	inserted, err := s.enqueueDue(ctx, client, 0, s.cfg.ScheduleEvery)
	if err != nil {
		return inserted, fmt.Errorf("schedule: %w", err)
	}
	refresh, err := s.store.DueRefreshes(ctx, now.Add(s.cfg.RefreshAhead+s.cfg.ScheduleEvery))
	if err != nil {
		return inserted, err
	}
	var params []river.InsertManyParams
	for _, d := range refresh {
		at := d.At.Add(-s.cfg.RefreshAhead)
		params = append(params, river.InsertManyParams{Args: RefreshArgs{ConnectionID: d.ConnectionID},
			InsertOpts: &river.InsertOpts{ScheduledAt: at}})
	}
	n, err := insertMany(ctx, client, params)
	if err != nil {
		return inserted, fmt.Errorf("schedule: %w", err)
	}
	return inserted + n, nil
}

// insertMany inserts jobs in chunks and returns how many were new (not
// skipped as duplicates of pending ones).
func insertMany(ctx context.Context, client *river.Client[pgx.Tx], params []river.InsertManyParams) (int, error) {
	inserted := 0
	for chunk := range slices.Chunk(params, 1000) {
		res, err := client.InsertMany(ctx, chunk)
		if err != nil {
			return inserted, fmt.Errorf("insert jobs: %w", err)
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
// enabled resources when resources is empty). For an application connection
// that is user discovery plus every known user's resources; discovery
// queues the users it finds new.
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
		users := []string{""}
		if c.Kind == store.KindApplication {
			params = append(params, river.InsertManyParams{Args: SyncArgs{ConnectionID: c.ID}})
			if users, err = s.store.LiveDirectoryUsers(ctx, c.ID); err != nil {
				return 0, err
			}
		}
		var rs []string
		for _, res := range c.Resources {
			if len(resources) == 0 || slices.Contains(resources, res) {
				rs = append(rs, res)
			}
		}
		if len(rs) == 0 {
			continue
		}
		for _, u := range users {
			if u != "" || c.Kind != store.KindApplication {
				params = append(params, river.InsertManyParams{Args: SyncArgs{ConnectionID: c.ID, UserID: u, Resources: rs}})
			}
		}
	}
	if len(params) == 0 {
		return 0, nil
	}
	n, err := insertMany(ctx, client, params)
	if err != nil {
		return n, fmt.Errorf("enqueue syncs: %w", err)
	}
	return n, nil
}

func spread(connectionID int64, userID string, period time.Duration) time.Duration {
	if period <= 0 {
		return 0
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%s", connectionID, userID)
	return time.Duration(h.Sum64() % uint64(period))
}
