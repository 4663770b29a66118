package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/graphsync/graphsync/store"
	"github.com/graphsync/graphsync/token"
)

// RefreshArgs refreshes one connection's access token.
type RefreshArgs struct {
	ConnectionID int64 `json:"connection_id" river:"unique"`
}

// Kind is River's name for the job.
func (RefreshArgs) Kind() string { return "graphsync_refresh_token" }

// InsertOpts puts refreshes on their own queue, one per connection at a time.
func (RefreshArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueTokens, UniqueOpts: uniqueWhileActive, MaxAttempts: 10}
}

type refreshWorker struct {
	river.WorkerDefaults[RefreshArgs]
	svc *Service
}

func (w *refreshWorker) Timeout(*river.Job[RefreshArgs]) time.Duration { return time.Minute }

func (w *refreshWorker) Work(ctx context.Context, job *river.Job[RefreshArgs]) error {
	_, err := w.svc.cfg.Tokens.Refresh(ctx, job.Args.ConnectionID, "")
	var cp *token.ClientProblemError
	var reauth *token.ReauthError
	var tenant *token.TenantError
	switch {
	case errors.As(err, &cp):
		// The app's credentials are wrong: retrying per connection would
		// only multiply one operator problem. Try again when it may be fixed.
		return river.JobSnooze(5 * time.Minute)
	case errors.Is(err, token.ErrNotActive), errors.As(err, &reauth), errors.As(err, &tenant):
		// Recorded on the connection (and its tenant's); only the user or
		// the tenant's administrator can help.
		return nil
	}
	return err
}

// ScheduleRefresh returns the hook a token source runs in the transaction
// that stores a refreshed token (token.Config.Scheduled): it inserts the
// next refresh, ahead before the new token expires, in the same
// transaction. Outside a River worker (a command asking for a token) there
// is no client to insert with, and the scheduler picks the connection up.
func ScheduleRefresh(ahead time.Duration) func(ctx context.Context, tx store.Tx, connectionID int64, expiry time.Time) error {
	return func(ctx context.Context, tx store.Tx, connectionID int64, expiry time.Time) error {
		client, err := clientFrom(ctx)
		if err != nil {
			return nil
		}
		if _, err := client.InsertTx(ctx, tx, RefreshArgs{ConnectionID: connectionID},
			&river.InsertOpts{ScheduledAt: expiry.Add(-ahead)}); err != nil {
			return fmt.Errorf("schedule next refresh of connection %d: %w", connectionID, err)
		}
		return nil
	}
}
