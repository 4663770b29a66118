package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// DirectoryUser is a row of directory_users: a user of an application
// connection's tenant.
type DirectoryUser struct {
	ID                string
	UserPrincipalName string
	DisplayName       string
	Mail              string
	GivenName         string
	Surname           string
	JobTitle          string
	Department        string
	OfficeLocation    string
	AccountEnabled    *bool
	UserType          string
	Raw               []byte
}

var directoryUsersTable = syncedTable("directory_users",
	"connection_id", "id", "user_principal_name", "display_name", "mail", "given_name", "surname", "job_title",
	"department", "office_location", "account_enabled", "user_type", "raw", "seen_at")

// UpsertDirectoryUsersTx writes discovered users; seenAt, when set, marks
// them seen by a full enumeration. A user who had left the tenant and is
// back (restored from deleted items) is live again, and their streams
// resume.
func (s *Store) UpsertDirectoryUsersTx(ctx context.Context, tx pgx.Tx, connectionID int64, us []DirectoryUser, seenAt *time.Time) (int64, error) {
	rows := make([][]any, len(us))
	ids := make([]string, len(us))
	for i, u := range us {
		rows[i] = []any{connectionID, CleanText(u.ID), textOrNil(u.UserPrincipalName), textOrNil(u.DisplayName),
			textOrNil(strings.ToLower(u.Mail)), textOrNil(u.GivenName), textOrNil(u.Surname), textOrNil(u.JobTitle),
			textOrNil(u.Department), textOrNil(u.OfficeLocation), u.AccountEnabled, textOrNil(u.UserType), CleanJSON(u.Raw), seenAt}
		ids[i] = CleanText(u.ID)
	}
	n, err := upsertTx(ctx, tx, directoryUsersTable, rows)
	if err != nil {
		return 0, err
	}
	if len(ids) > 0 {
		// Due at once: the returning user's rows were retired when they left.
		if _, err := tx.Exec(ctx, `UPDATE sync_state SET status = 'ok', last_success_at = NULL
			WHERE connection_id = $1 AND status = 'stopped' AND split_part(stream, '/', 1) = ANY($2)`, connectionID, ids); err != nil {
			return 0, fmt.Errorf("resume streams of returning users: %w", err)
		}
	}
	return n, nil
}

// RemoveDirectoryUsersTx handles users who left the tenant: their row is
// soft-deleted, every row synced for them (mail, calendar, drive, people…)
// is retired, and their streams are stopped.
func (s *Store) RemoveDirectoryUsersTx(ctx context.Context, tx pgx.Tx, connectionID int64, ids []string) (int64, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	n, err := softDeleteTx(ctx, tx, "directory_users", connectionID, ids, "")
	if err != nil {
		return 0, err
	}
	clean := cleanAll(ids)
	// Every table holding per-user rows with a soft delete, including those
	// written by their own statements (people, chat messages).
	rows, err := tx.Query(ctx, `SELECT table_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND column_name IN ('user_id', 'deleted_at')
		GROUP BY table_name HAVING count(*) = 2 ORDER BY table_name`)
	if err != nil {
		return 0, fmt.Errorf("list tables of per-user rows: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, fmt.Errorf("list tables of per-user rows: %w", err)
	}
	for _, name := range names { // in name order: a stable lock order across processes
		if name == "chats" || name == "chat_messages" {
			continue // a chat belongs to all its members, not to the user it was read through
		}
		if _, err := tx.Exec(ctx, "UPDATE "+pgx.Identifier{name}.Sanitize()+` SET deleted_at = now(), synced_at = now()
			WHERE connection_id = $1 AND user_id = ANY($2) AND deleted_at IS NULL`, connectionID, clean); err != nil {
			return 0, fmt.Errorf("retire %s of users who left the tenant: %w", name, err)
		}
	}
	// Their delta links go too: the rows were retired, so a user who comes
	// back is enumerated in full, which revives what still exists.
	if _, err := tx.Exec(ctx, `UPDATE sync_state SET status = 'stopped', delta_link = NULL, next_link = NULL, round_started_at = NULL
		WHERE connection_id = $1 AND split_part(stream, '/', 1) = ANY($2) AND position('/' in stream) > 0`, connectionID, clean); err != nil {
		return 0, fmt.Errorf("stop streams of users who left the tenant: %w", err)
	}
	return n, nil
}

// StopStreamsOfRemovedUsers stops the streams of an application
// connection's users who left the tenant that a job already running when
// they left went on to write.
func (s *Store) StopStreamsOfRemovedUsers(ctx context.Context, connectionID int64) error {
	_, err := s.pool.Exec(ctx, `UPDATE sync_state SET status = 'stopped', delta_link = NULL, next_link = NULL, round_started_at = NULL
		WHERE connection_id = $1 AND status <> 'stopped' AND position('/' in stream) > 0
			AND split_part(stream, '/', 1) IN (SELECT id FROM directory_users WHERE connection_id = $1 AND deleted_at IS NOT NULL)`,
		connectionID)
	if err != nil {
		return fmt.Errorf("stop streams of users who left the tenant: %w", err)
	}
	return nil
}

// RetireUnseenDirectoryUsersTx removes the users a full enumeration begun
// at since did not see.
func (s *Store) RetireUnseenDirectoryUsersTx(ctx context.Context, tx pgx.Tx, connectionID int64, since time.Time) (int64, error) {
	rows, err := tx.Query(ctx, `SELECT id FROM directory_users WHERE connection_id = $1 AND deleted_at IS NULL
		AND (seen_at IS NULL OR seen_at < $2)`, connectionID, since)
	if err != nil {
		return 0, fmt.Errorf("retire unseen users: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, fmt.Errorf("retire unseen users: %w", err)
	}
	return s.RemoveDirectoryUsersTx(ctx, tx, connectionID, ids)
}

// LiveDirectoryUsers returns the ids of an application connection's users
// who are still in the tenant.
func (s *Store) LiveDirectoryUsers(ctx context.Context, connectionID int64) ([]string, error) {
	rows, err := s.pool.Query(ctx, "SELECT id FROM directory_users WHERE connection_id = $1 AND deleted_at IS NULL ORDER BY id", connectionID)
	if err != nil {
		return nil, fmt.Errorf("list users of connection %d: %w", connectionID, err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// DirectoryUserLive reports whether a user of an application connection is
// known and still in the tenant.
func (s *Store) DirectoryUserLive(ctx context.Context, connectionID int64, userID string) (bool, error) {
	var live bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM directory_users
		WHERE connection_id = $1 AND id = $2 AND deleted_at IS NULL)`, connectionID, userID).Scan(&live)
	if err != nil {
		return false, fmt.Errorf("look up user %s of connection %d: %w", userID, connectionID, err)
	}
	return live, nil
}
