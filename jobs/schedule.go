package jobs

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/riverqueue/river"

	"github.com/graphsync/graphsync/graphsync"
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
	client, err := clientFrom(ctx)
	if err != nil {
		return err
	}
	_, err = w.svc.Schedule(ctx, client)
	return err
}

// Schedule enqueues every sync and refresh due before its next run. A
// mailbox's sync is scheduled at the moment it is due, its interval after
// its last success, so the interval holds to within River's scheduling
// delay (a few seconds); a mailbox found overdue (never synced, or its
// previous job still running when it fell due) is spread over the
// scheduler's period by a hash of connection and user, so ten thousand
// connections do not all fire in the same second. Uniqueness keeps one job
// per mailbox pending. It also enqueues a webhook delivery per endpoint.
// It returns how many jobs it inserted.
func (s *Service) Schedule(ctx context.Context, client *river.Client[store.Tx]) (int, error) {
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
	// Webhook deliveries follow notifications; this pass catches what a
	// lost one would miss, and retries an endpoint whose job gave up.
	w, err := s.EnqueueWebhooks(ctx, client)
	if err != nil {
		return inserted + n, fmt.Errorf("schedule: %w", err)
	}
	return inserted + n + w, nil
}

// insertMany inserts jobs in chunks and returns how many were new (not
// skipped as duplicates of pending ones).
func insertMany(ctx context.Context, client *river.Client[store.Tx], params []river.InsertManyParams) (int, error) {
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

// EnqueueOption tunes EnqueueSync.
type EnqueueOption func(*SyncArgs)

// Incremental queues a pass as the scheduler does instead of a thorough
// one: streams the engine would check later (chats whose newest message did
// not change) are not checked now.
func Incremental(a *SyncArgs) { a.Thorough = false }

// EnqueueSync makes a connection's resources sync now (every connection's
// when connectionID is 0; all of its enabled resources when resources is
// empty), thoroughly unless told otherwise, and returns the Pass that
// follows the jobs doing it: new ones, and pending ones of the same
// mailboxes moved up (see Pass). For an application connection that is
// its tenant-level resources (user discovery always) plus every known
// user's resources; discovery queues the users it finds new.
func (s *Service) EnqueueSync(ctx context.Context, client *river.Client[store.Tx], connectionID int64, resources []*graphsync.Resource, opts ...EnqueueOption) (*Pass, error) {
	conns, err := s.store.Connections(ctx)
	if err != nil {
		return nil, err
	}
	var args []SyncArgs
	for _, c := range conns {
		if connectionID != 0 && c.ID != connectionID {
			continue
		}
		if c.Status != store.StatusActive {
			// A job would find nothing to do: the connection waits for its
			// user, its tenant's administrator or its operator.
			continue
		}
		users := []string{c.UserID}
		var shared []string
		if c.Kind == store.KindApplication {
			var names []string
			for _, r := range tenantWanted(c.Resources, nil) {
				if r == graphsync.Users || len(resources) == 0 || slices.Contains(resources, r) {
					names = append(names, r.Name())
				}
			}
			args = append(args, SyncArgs{ConnectionID: c.ID, Resources: names})
			if users, err = s.store.LiveIDs(ctx, graphsync.Users.Items(), c.ID, ""); err != nil {
				return nil, err
			}
		} else {
			mailboxes, err := s.store.Mailboxes(ctx, c.ID)
			if err != nil {
				return nil, err
			}
			for _, m := range mailboxes {
				shared = append(shared, m.UserID)
			}
		}
		var rs, srs []string
		for _, res := range graphsync.Mailbox(c.Resources) {
			if len(resources) == 0 || slices.Contains(resources, res) {
				rs = append(rs, res.Name())
				if res.SharedPermission() != "" {
					srs = append(srs, res.Name())
				}
			}
		}
		add := func(users, rs []string) {
			if len(rs) == 0 {
				return
			}
			for _, u := range users {
				a := SyncArgs{ConnectionID: c.ID, UserID: u, Resources: rs, Thorough: true}
				for _, o := range opts {
					o(&a)
				}
				args = append(args, a)
			}
		}
		add(users, rs)
		add(shared, srs)
	}
	p := newPass(s, client, connectionID)
	if err := p.add(ctx, args); err != nil {
		return p, fmt.Errorf("enqueue syncs: %w", err)
	}
	return p, nil
}

// enqueueDue inserts the syncs due before the scheduler's next run (of one
// connection when connectionID is not 0), one job per mailbox with the
// resources due by then, scheduled when the first of them is due; an
// overdue mailbox is spread over spreadOver (none when 0) so a large fleet
// does not fire in the same second. Uniqueness keeps one job per mailbox
// pending.
func (s *Service) enqueueDue(ctx context.Context, client *river.Client[store.Tx], connectionID int64, spreadOver time.Duration) (int, error) {
	// Without notifications, a subscription left from an earlier
	// configuration stretches nothing.
	subscribed := s.cfg.SubscribedInterval
	if s.cfg.Subscriptions == nil {
		subscribed = s.cfg.SyncInterval
	}
	due, err := s.store.DueSyncs(ctx, s.cfg.SyncInterval, subscribed, s.cfg.ScheduleEvery, connectionID)
	if err != nil {
		return 0, err
	}
	type mailbox struct {
		conn int64
		user string
	}
	var order []mailbox
	byMailbox := map[mailbox][]string{}
	at := map[mailbox]time.Time{}
	for _, d := range due {
		if d.Resource != graphsync.Users && len(s.cfg.Resources) > 0 && !slices.Contains(s.cfg.Resources, d.Resource) {
			continue
		}
		m := mailbox{d.Connection, d.User}
		if _, ok := byMailbox[m]; !ok {
			order = append(order, m)
			at[m] = d.At
		}
		byMailbox[m] = append(byMailbox[m], d.Resource.Name())
		if d.At.Before(at[m]) {
			at[m] = d.At
		}
	}
	now := time.Now()
	params := make([]river.InsertManyParams, 0, len(order))
	for _, m := range order {
		opts := &river.InsertOpts{ScheduledAt: at[m]}
		if !at[m].After(now) && spreadOver > 0 {
			opts.ScheduledAt = now.Add(spread(m.conn, m.user, spreadOver))
		}
		args := SyncArgs{ConnectionID: m.conn, UserID: m.user, Resources: byMailbox[m]}
		params = append(params, river.InsertManyParams{Args: args, InsertOpts: opts})
	}
	return insertMany(ctx, client, params)
}

func spread(connectionID int64, userID string, period time.Duration) time.Duration {
	if period <= 0 {
		return 0
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%s", connectionID, userID)
	return time.Duration(h.Sum64() % uint64(period))
}
