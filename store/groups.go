package store

import (
	"context"
	"fmt"
	"time"

	"github.com/graphsync/graphsync/graphsync"
)

// Group memberships (graphsync.Groups): members@delta adds and removes
// members one by one, so a group's members table is written change by
// change, not replaced with its group.

// ApplyMembersTx writes membership changes into t (group_members): members
// listed are upserted (revived when they had left), members @removed
// retired. seenAt, during a full round, marks the listed memberships seen.
// It returns how many rows changed.
func (s *Store) ApplyMembersTx(ctx context.Context, tx Tx, t *graphsync.Table, conn int64, changes []graphsync.MemberChange, seenAt *time.Time) (int64, error) {
	var rows []graphsync.Row
	var groups, members []string
	for _, c := range changes {
		if c.Removed {
			groups, members = append(groups, CleanText(c.Group)), append(members, CleanText(c.Member))
			continue
		}
		rows = append(rows, graphsync.Row{Values: []any{c.Group, c.Member, c.Type, []byte(c.Raw)}})
	}
	n, err := s.UpsertTx(ctx, tx, t, conn, rows, seenAt)
	if err != nil {
		return 0, err
	}
	if len(groups) == 0 {
		return n, nil
	}
	tag, err := tx.Exec(ctx, "UPDATE "+t.Name+" m SET deleted_at = now(), synced_at = now()"+
		" FROM unnest($2::text[], $3::text[]) AS x(group_id, member_id)"+
		" WHERE m.connection_id = $1 AND m.group_id = x.group_id AND m.member_id = x.member_id AND m.deleted_at IS NULL",
		conn, groups, members)
	if err != nil {
		return 0, fmt.Errorf("remove %s: %w", t.Name, err)
	}
	return n + tag.RowsAffected(), nil
}

// RetireUnseenMembersTx retires the memberships of a connection's tenant
// that a full round begun at since did not list, and returns how many.
func (s *Store) RetireUnseenMembersTx(ctx context.Context, tx Tx, t *graphsync.Table, conn int64, since time.Time) (int64, error) {
	tag, err := tx.Exec(ctx, "UPDATE "+t.Name+" SET deleted_at = now(), synced_at = now()"+
		" WHERE connection_id = $1 AND deleted_at IS NULL AND (seen_at IS NULL OR seen_at < $2)", conn, since)
	if err != nil {
		return 0, fmt.Errorf("retire unseen %s: %w", t.Name, err)
	}
	return tag.RowsAffected(), nil
}
