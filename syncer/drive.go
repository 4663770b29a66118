package syncer

import (
	"context"
	"errors"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/token"
)

// syncDrive syncs a Delta resource: the user's OneDrive through root/delta
// (a 410 from OneDrive, resyncChangesApplyDifferences and kin, restarts the
// stream as a full enumeration that retires whatever it no longer sees,
// which is what Microsoft asks of a client with no local changes to
// upload). It then keeps the connection's SharePoint token fresh when it
// has SharePoint access: drive syncs run more often than the refresh
// margin, so apps asking for the token find a valid one.
func (r *run) syncDrive(ctx context.Context) error {
	t := r.resource.Items()
	st := r.stream(graphsync.OwnDrive)
	if err := r.runDelta(ctx, r.tableStream(t, st, t.Path(r.userPath(), st.Container), graphsync.Window{})); err != nil {
		return err
	}
	if err := r.syncDetails(ctx, t); err != nil {
		return err
	}
	if err := r.reconcile(ctx, t, []string{graphsync.OwnDrive}); err != nil {
		return err
	}
	if !token.HasSharePoint(r.req.Conn) {
		return nil
	}
	_, err := r.eng.tokens.SharePoint(ctx, r.req.Conn.ID)
	var cp *token.ClientProblemError
	var tenant *token.TenantError
	if errors.As(err, &cp) || errors.As(err, &tenant) || errors.Is(err, token.ErrNotActive) {
		return err
	}
	if err != nil {
		// The drive is synced; the token is retried on the next pass or
		// redeemed when an app asks for it.
		r.log.WarnContext(ctx, "could not redeem the SharePoint token", "error", err)
	}
	return nil
}
