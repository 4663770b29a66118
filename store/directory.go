package store

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/graphsync/graphsync/graphsync"
)

// User discovery (graphsync.Table.Directory): the users of an application
// connection. A user who leaves the tenant takes every row synced for them
// and their streams along; one who comes back resumes.

// removeUsersTx retires users who left the tenant, every row synced for
// them (mail, calendar, drive, people...), and stops their streams. It
// returns how many users it retired.
func removeUsersTx(ctx context.Context, tx Tx, t *graphsync.Table, conn int64, ids []string) (int64, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	tag, err := tx.Exec(ctx, "UPDATE "+t.Name+" SET deleted_at = now(), synced_at = now() WHERE connection_id = $1 AND id = ANY($2) AND deleted_at IS NULL",
		conn, ids)
	if err != nil {
		return 0, fmt.Errorf("remove users who left the tenant: %w", err)
	}
	// In name order: a stable lock order across processes.
	for _, pt := range perUserTables() {
		if _, err := tx.Exec(ctx, "UPDATE "+pt.Name+" SET deleted_at = now(), synced_at = now()"+
			" WHERE connection_id = $1 AND "+pt.UserColumn()+" = ANY($2) AND deleted_at IS NULL", conn, ids); err != nil {
			return 0, fmt.Errorf("retire %s of users who left the tenant: %w", pt.Name, err)
		}
	}
	// Their delta links go too: the rows were retired, so a user who comes
	// back is enumerated in full, which revives what still exists.
	if _, err := tx.Exec(ctx, `UPDATE sync_state SET status = 'stopped', delta_link = NULL, next_link = NULL, round_started_at = NULL
		WHERE connection_id = $1 AND user_id = ANY($2) AND user_id <> ''`, conn, ids); err != nil {
		return 0, fmt.Errorf("stop streams of users who left the tenant: %w", err)
	}
	return tag.RowsAffected(), nil
}

// perUserTables lists the tables holding rows synced for one user, which
// that user's leaving retires, in name order.
func perUserTables() []*graphsync.Table {
	var out []*graphsync.Table
	for _, t := range graphsync.Tables() {
		if t.Map != nil && !t.Directory && !t.Shared && !t.Tenant {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b *graphsync.Table) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// resumeUsersTx makes the stopped streams of returning users due at once:
// their rows were retired when they left.
func resumeUsersTx(ctx context.Context, tx Tx, conn int64, ids []string) error {
	if _, err := tx.Exec(ctx, `UPDATE sync_state SET status = 'ok', last_success_at = NULL
		WHERE connection_id = $1 AND status = 'stopped' AND user_id = ANY($2) AND user_id <> ''`, conn, ids); err != nil {
		return fmt.Errorf("resume streams of returning users: %w", err)
	}
	return nil
}

// StopStreamsOfRemovedUsers stops the streams of an application
// connection's users who left the tenant that a job already running when
// they left went on to write.
func (s *Store) StopStreamsOfRemovedUsers(ctx context.Context, conn int64) error {
	_, err := s.pool.Exec(ctx, `UPDATE sync_state SET status = 'stopped', delta_link = NULL, next_link = NULL, round_started_at = NULL
		WHERE connection_id = $1 AND status <> 'stopped' AND user_id <> ''
			AND user_id IN (SELECT id FROM `+graphsync.Users.Items().Name+` WHERE connection_id = $1 AND deleted_at IS NOT NULL)`, conn)
	if err != nil {
		return fmt.Errorf("stop streams of users who left the tenant: %w", err)
	}
	return nil
}
