package syncer

import (
	"context"

	"github.com/graphsync/graphsync/graphsync"
)

// syncDirectory syncs Discovery: an application connection's users
// through users/delta, whose round retires the rows of users who left the
// tenant; then it stops the streams a job already running when they left
// went on to write. The caller queues the syncs now due for the tenant's
// users, so a user discovered now is synced in the same pass.
func (r *run) syncDirectory(ctx context.Context) error {
	t := r.resource.Items()
	st := r.top()
	if err := r.runDelta(ctx, r.tableStream(t, st, t.Path("", ""), graphsync.Window{})); err != nil {
		return err
	}
	return r.eng.store.StopStreamsOfRemovedUsers(ctx, r.req.Conn.ID)
}
