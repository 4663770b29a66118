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
// application connection with no user) the tenant-level resources: the
// discovery of the tenant's users and those enabled on the connection. One
// job per mailbox, not per resource, keeps an idle pass over a large fleet
// cheap.
type SyncArgs struct {
	ConnectionID int64 `json:"connection_id" river:"unique"`
	// UserID is the mailbox: the connection's user for a delegated
	// connection, one user of the tenant for an application connection,
	// empty for the tenant-level resources.
	UserID string `json:"user_id,omitempty" river:"unique"`
	// Resources to sync by name; empty means every resource enabled on the
	// connection.
	Resources []string `json:"resources,omitempty"`
	// Thorough checks every stream now, even those the engine would check
	// later (chats whose newest message did not change): a sync asked for
	// by an operator brings everything up to date. It is not part of the
	// job's uniqueness.
	Thorough bool `json:"thorough,omitempty"`
	// NotifiedAt is when the change notification that queued the job
	// arrived (zero for scheduled and explicit syncs).
	NotifiedAt time.Time `json:"notified_at,omitzero"`
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
	return JobTimeout(w.svc.cfg.MaxJobDuration)
}

// NextRetry retries at once a job River rescued from a worker that is gone
// (it ran past its timeout, which a live worker never lets it do): being
// killed is no failure of the sync, and River's backoff, growing with every
// attempt, would add minutes to each rescue after repeated kills. Other
// failures take River's backoff.
func (w *syncWorker) NextRetry(job *river.Job[SyncArgs]) time.Time {
	if job.AttemptedAt != nil && time.Since(*job.AttemptedAt) >= JobTimeout(w.svc.cfg.MaxJobDuration) {
		return time.Now()
	}
	return time.Time{}
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
	// A notified sync is thorough too: Graph notifies of chat message edits
	// and deletions, which move no chat's preview, so only a listing of
	// every chat finds them before the edit check would.
	req := syncer.Request{Conn: conn, User: conn.UserID, PassStart: job.CreatedAt,
		Deadline: time.Now().Add(s.cfg.MaxJobDuration), Thorough: args.Thorough || !args.NotifiedAt.IsZero()}
	tenant := conn.Kind == store.KindApplication && args.UserID == ""
	switch {
	case tenant:
		req.User, req.Resources = "", tenantWanted(conn.Resources, args.Resources)
	case conn.Kind == store.KindApplication:
		// A user who left the tenant since the job was queued is not synced.
		if live, err := s.store.IsLive(ctx, graphsync.Users.Items(), conn.ID, args.UserID); err != nil || !live {
			return err
		}
		req.User = args.UserID
		req.Resources = wanted(conn.Resources, args.Resources)
	case args.UserID != "" && args.UserID != conn.UserID:
		// A shared mailbox, unless it was removed since the job was queued:
		// the resources a share can give.
		if ok, err := s.store.HasMailbox(ctx, conn.ID, args.UserID); err != nil || !ok {
			return err
		}
		req.User = args.UserID
		req.Resources = graphsync.Shareable(wanted(conn.Resources, args.Resources))
	default:
		req.Resources = wanted(conn.Resources, args.Resources)
	}
	// Notifications that arrived once this job was queued found it pending
	// (one job per mailbox): their resources join it. The margin covers a
	// notification recorded just as the job was inserted.
	heard, err := s.store.Notified(ctx, conn.ID, req.User)
	if err != nil {
		return err
	}
	since := job.CreatedAt.Add(-time.Second)
	req.Fresh = notified(conn, req.User, heard, func(r *graphsync.Resource, m store.NotifiedMark) bool { return m.At.After(since) })
	req.Resources = notified(conn, req.User, heard, func(r *graphsync.Resource, m store.NotifiedMark) bool {
		return slices.Contains(req.Resources, r) || slices.Contains(req.Fresh, r)
	})
	if len(req.Resources) == 0 {
		return nil
	}
	out, err := s.cfg.Engine.Sync(ctx, req)
	if err != nil {
		return err
	}
	if !args.NotifiedAt.IsZero() && out.Done() {
		notificationToCommit.Observe(time.Since(args.NotifiedAt).Seconds())
	}
	// Notifications that arrive while it runs find it running: it syncs
	// their resources again before it ends.
	// (The tenant's job queues more jobs after its sync; a directory
	// notification that finds it running is read by the next pass.)
	for again := 0; out.Done() && s.cfg.Subscriptions != nil && !tenant; again++ {
		first := again == 0
		rerun, now, err := s.finish(ctx, job, conn, req.User, heard)
		if err != nil {
			return err
		}
		if first {
			countUnnotified(job, req, out, heard, now)
		}
		if len(rerun) == 0 {
			return nil
		}
		if again == 3 || time.Now().After(req.Deadline) {
			// Still changing: the job runs again shortly, as a new pass.
			return river.JobSnooze(time.Second)
		}
		req.Resources, req.Fresh, heard = rerun, rerun, now
		if out, err = s.cfg.Engine.Sync(ctx, req); err != nil {
			return err
		}
	}
	if tenant && out.Done() {
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

// finish ends a job that synced everything: in one transaction, it reads
// the mailbox's notification counts, locking them, and completes the job
// unless a count rose since heard, in which case it returns those
// resources to sync again, with the counts read. A notification arriving
// at the end either finds the job completed (and queues a new one) or is
// seen here.
func (s *Service) finish(ctx context.Context, job *river.Job[SyncArgs], conn *store.Connection, user string, heard store.Notified) ([]*graphsync.Resource, store.Notified, error) {
	var rerun []*graphsync.Resource
	var now store.Notified
	err := s.store.InTx(ctx, func(tx store.Tx) error {
		var err error
		if now, err = s.store.NotifiedTx(ctx, tx, conn.ID, user); err != nil {
			return err
		}
		rerun = notified(conn, user, now, func(r *graphsync.Resource, m store.NotifiedMark) bool {
			return m.Count > heard[r].Count
		})
		if len(rerun) > 0 {
			return nil
		}
		return store.CompleteJob(ctx, tx, job)
	})
	return rerun, now, err
}

// countUnnotified counts the changes a sync found in resources subscribed
// before the job was queued that no notification announced, before or
// while it ran: Graph did not notify, or could not reach the endpoint.
func countUnnotified(job *river.Job[SyncArgs], req syncer.Request, out syncer.Outcome, before, after store.Notified) {
	for _, r := range out.Changed {
		m := before[r]
		if m.Active && m.Since.Before(job.CreatedAt) && !slices.Contains(req.Fresh, r) && after[r].Count == m.Count {
			unnotifiedChanges.WithLabelValues(r.Name()).Inc()
		}
	}
}

// notified lists, in their usual order, the resources a mailbox's job
// syncs (the tenant-level ones for an application connection's tenant,
// else the connection's enabled resources) that pick selects.
func notified(conn *store.Connection, user string, marks store.Notified, pick func(*graphsync.Resource, store.NotifiedMark) bool) []*graphsync.Resource {
	candidates := wanted(conn.Resources, nil)
	if conn.Kind == store.KindApplication && user == "" {
		candidates = tenantWanted(conn.Resources, nil)
	}
	var out []*graphsync.Resource
	for _, r := range candidates {
		if pick(r, marks[r]) {
			out = append(out, r)
		}
	}
	return out
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

// wanted lists the resources of a mailbox's job: those enabled on the
// connection and read per mailbox, of the names asked for (all when none),
// in sync order.
func wanted(enabled []*graphsync.Resource, names []string) []*graphsync.Resource {
	var out []*graphsync.Resource
	for _, r := range graphsync.Resources {
		if slices.Contains(enabled, r) && (len(names) == 0 || slices.Contains(names, r.Name())) {
			out = append(out, r)
		}
	}
	return out
}

// tenantWanted lists the resources of an application connection's tenant
// job: user discovery, which every application connection runs, and the
// tenant-level resources enabled on it, of the names asked for (all when
// none), user discovery first.
func tenantWanted(enabled []*graphsync.Resource, names []string) []*graphsync.Resource {
	var out []*graphsync.Resource
	for _, r := range graphsync.Tenant(graphsync.All()) {
		if (r == graphsync.Users || slices.Contains(enabled, r)) && (len(names) == 0 || slices.Contains(names, r.Name())) {
			out = append(out, r)
		}
	}
	return out
}
