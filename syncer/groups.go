package syncer

import (
	"context"
	"encoding/json"
	"time"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

// syncGroups syncs MemberDelta: the tenant's groups through groups/delta,
// one stream with no user. Each page's repeated groups are folded into one
// item per group; the groups are written as any delta table's rows, then
// their membership changes (members@delta) into group_members. A full
// round (the first, or after the token expired) retires the groups and
// the memberships it did not list.
func (r *run) syncGroups(ctx context.Context) error {
	t, members := r.resource.Items(), graphsync.GroupMembers
	d := r.tableStream(t, r.top(), t.Path("", ""), graphsync.Window{})
	prepare, retire := d.prepare, d.retire
	d.prepare = func(ctx context.Context, items []json.RawMessage) (writeFunc, error) {
		groups, changes, bad := graphsync.FoldGroups(items)
		write, err := prepare(ctx, groups)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, tx store.Tx, seen *time.Time) (store.Progress, error) {
			for _, b := range bad {
				if err := r.quarantine(ctx, tx, d.stream, b.Group, b.Reason, b.Raw); err != nil {
					return store.Progress{}, err
				}
			}
			p, err := write(ctx, tx, seen)
			if err != nil {
				return p, err
			}
			n, err := r.eng.store.ApplyMembersTx(ctx, tx, members, r.req.Conn.ID, changes, seen)
			if err != nil {
				return p, err
			}
			r.count("upserted", n)
			p.Upserted += int(n)
			return p, nil
		}, nil
	}
	d.retire = func(ctx context.Context, tx store.Tx, since time.Time) (int64, error) {
		n, err := retire(ctx, tx, since)
		if err != nil {
			return n, err
		}
		m, err := r.eng.store.RetireUnseenMembersTx(ctx, tx, members, r.req.Conn.ID, since)
		r.count("deleted", m)
		return n + m, err
	}
	return r.runDelta(ctx, d)
}
