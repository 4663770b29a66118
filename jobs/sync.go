package jobs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/riverqueue/river"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
	"github.com/graphsync/graphsync/syncer"
)

// SyncArgs syncs the resources of one mailbox in one job: a delegated
// connection's, one user's of an application connection, or (an
// application connection with no user) the discovery of the tenant's
// users. One job per mailbox, not per resource, keeps an idle pass over a
// large fleet cheap.
type SyncArgs struct {
	ConnectionID int64 `json:"connection_id" river:"unique"`
	// UserID is the mailbox: the connection's user for a delegated
	// connection, one user of the tenant for an application connection,
	// empty for the tenant's user discovery.
	UserID string `json:"user_id,omitempty" river:"unique"`
	// Resources to sync by name; empty means every resource enabled on the
	// connection.
	Resources []string `json:"resources,omitempty"`
	// Thorough checks every stream now, even those the engine would check
	// later (chats whose newest message did not change): a sync asked for
	// by an operator brings everything up to date. It is not part of the
	// job's uniqueness.
	Thorough bool `json:"thorough,omitempty"`
}

// Kind is River's name for the job.
func (SyncArgs) Kind() string { return "graphsync_sync" }

// InsertOpts keeps one sync per connection and user pending or running.
func (SyncArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueSync, UniqueOpts: uniqueWhileActive}
}

type syncWorker struct {
	river.WorkerDefaults[SyncArgs]
	svc *Service
}

func (w *syncWorker) Timeout(*river.Job[SyncArgs]) time.Duration {
	return w.svc.cfg.MaxJobDuration + time.Minute
}

// syncAttempts is how many times River retries a job for a resource that
// keeps failing; after that the failure stays recorded on the resource and
// the next scheduled pass tries again, so one broken resource never holds
// up the connection's others for long.
const syncAttempts = 4

func (w *syncWorker) Work(ctx context.Context, job *river.Job[SyncArgs]) error {
	s := w.svc
	args := job.Args
	conn, err := s.store.Connection(ctx, args.ConnectionID)
	if errors.Is(err, store.ErrNotFound) {
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	if conn.Status != store.StatusActive {
		return nil
	}
	req := syncer.Request{Conn: conn, User: conn.UserID, PassStart: job.CreatedAt,
		Deadline: time.Now().Add(s.cfg.MaxJobDuration), Thorough: args.Thorough}
	discovery := conn.Kind == store.KindApplication && args.UserID == ""
	switch {
	case discovery:
		req.User, req.Resources = "", []*graphsync.Resource{graphsync.Users}
	case conn.Kind == store.KindApplication:
		// A user who left the tenant since the job was queued is not synced.
		if live, err := s.store.IsLive(ctx, graphsync.Users.Items(), conn.ID, args.UserID); err != nil || !live {
			return err
		}
		req.User = args.UserID
		fallthrough
	default:
		for _, r := range graphsync.Resources {
			if slices.Contains(conn.Resources, r) && (len(args.Resources) == 0 || slices.Contains(args.Resources, r.Name())) {
				req.Resources = append(req.Resources, r)
			}
		}
	}
	if len(req.Resources) == 0 {
		return nil
	}
	out, err := s.cfg.Engine.Sync(ctx, req)
	if err != nil {
		return err
	}
	if discovery && !out.Stop && !out.Snooze && len(out.Failed) == 0 {
		// A user discovered now is synced in the same pass.
		client, err := clientFrom(ctx)
		if err != nil {
			return err
		}
		n, err := s.enqueueDue(ctx, client, conn.ID, 0)
		if err != nil {
			return fmt.Errorf("queue syncs of the tenant's users: %w", err)
		}
		s.log.InfoContext(ctx, "tenant users discovered", "connection_id", conn.ID, "syncs_queued", n)
	}
	return s.outcome(ctx, job, out)
}

// outcome turns the engine's outcome into the job's: stopping wins (the
// connection cannot sync: recorded on it), then the shortest snooze
// (resources already synced in this pass are skipped when it runs again),
// then a failure, retried by River up to syncAttempts.
func (s *Service) outcome(ctx context.Context, job *river.Job[SyncArgs], out syncer.Outcome) error {
	switch {
	case out.Stop:
		return nil
	case out.Snooze:
		return river.JobSnooze(out.Wait)
	case len(out.Failed) > 0 && job.Attempt < syncAttempts:
		return errors.Join(out.Failed...)
	case len(out.Failed) > 0:
		s.log.WarnContext(ctx, "sync failed again; the next scheduled pass retries it",
			"connection_id", job.Args.ConnectionID, "attempts", job.Attempt, "error", errors.Join(out.Failed...))
	}
	return nil
}
