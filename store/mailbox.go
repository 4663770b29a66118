package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Mailbox statuses.
const (
	MailboxOK       = "ok"
	MailboxNoAccess = "no_access"
)

// Mailbox is another user's mailbox a delegated connection syncs besides
// its user's own (a shared or delegated mailbox).
type Mailbox struct {
	ConnectionID int64
	// UserID is the mailbox owner's Entra object id: the user of its
	// streams and rows.
	UserID      string
	Address     string
	DisplayName string
	Status      string
	LastError   string
}

// AddMailbox adds a mailbox to a connection, or updates its address and
// name.
func (s *Store) AddMailbox(ctx context.Context, conn int64, m Mailbox) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO connection_mailboxes (connection_id, user_id, address, display_name)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (connection_id, user_id) DO UPDATE SET address = EXCLUDED.address, display_name = EXCLUDED.display_name`,
		conn, CleanText(m.UserID), CleanText(m.Address), textOrNil(m.DisplayName))
	if err != nil {
		return fmt.Errorf("add mailbox %s to connection %d: %w", m.Address, conn, err)
	}
	return nil
}

// Mailboxes lists a connection's extra mailboxes (every connection's when
// conn is 0) by connection and address.
func (s *Store) Mailboxes(ctx context.Context, conn int64) ([]Mailbox, error) {
	rows, err := s.pool.Query(ctx, `SELECT connection_id, user_id, address, coalesce(display_name, ''), status, coalesce(last_error, '')
		FROM connection_mailboxes WHERE $1 = 0 OR connection_id = $1 ORDER BY connection_id, address`, conn)
	if err != nil {
		return nil, fmt.Errorf("list mailboxes of connection %d: %w", conn, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Mailbox, error) {
		var m Mailbox
		return m, r.Scan(&m.ConnectionID, &m.UserID, &m.Address, &m.DisplayName, &m.Status, &m.LastError)
	})
	if err != nil {
		return nil, fmt.Errorf("list mailboxes of connection %d: %w", conn, err)
	}
	return out, nil
}

// HasMailbox says whether a connection syncs a mailbox besides its own.
func (s *Store) HasMailbox(ctx context.Context, conn int64, user string) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM connection_mailboxes WHERE connection_id = $1 AND user_id = $2)`,
		conn, user).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("look up mailbox %s of connection %d: %w", user, conn, err)
	}
	return ok, nil
}

// RemoveMailbox stops syncing a mailbox (by user id or address): its
// streams go, and its rows are retired as a user's who left the tenant
// are. It reports whether the connection had the mailbox.
func (s *Store) RemoveMailbox(ctx context.Context, conn int64, mailbox string) (bool, error) {
	found := false
	err := s.InTx(ctx, func(tx Tx) error {
		var user string
		err := tx.QueryRow(ctx, `DELETE FROM connection_mailboxes WHERE connection_id = $1 AND (user_id = $2 OR lower(address) = lower($2))
			RETURNING user_id`, conn, mailbox).Scan(&user)
		if err == pgx.ErrNoRows {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		for _, pt := range perUserTables() {
			if _, err := tx.Exec(ctx, "UPDATE "+pt.Name+" SET deleted_at = now(), synced_at = now()"+
				" WHERE connection_id = $1 AND "+pt.UserColumn()+" = $2 AND deleted_at IS NULL", conn, user); err != nil {
				return fmt.Errorf("retire %s: %w", pt.Name, err)
			}
		}
		_, err = tx.Exec(ctx, `DELETE FROM sync_state WHERE connection_id = $1 AND user_id = $2`, conn, user)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("remove mailbox %s from connection %d: %w", mailbox, conn, err)
	}
	return found, nil
}

// SetMailboxAccess records whether Graph let the connection read the
// mailbox at its last sync: a refusal (reason, Graph's answer) is the
// mailbox's state, not the connection's.
func (s *Store) SetMailboxAccess(ctx context.Context, conn int64, user string, ok bool, reason string) error {
	var err error
	if ok {
		_, err = s.pool.Exec(ctx, `UPDATE connection_mailboxes SET status = 'ok', last_error = NULL
			WHERE connection_id = $1 AND user_id = $2 AND status <> 'ok'`, conn, user)
	} else {
		_, err = s.pool.Exec(ctx, `UPDATE connection_mailboxes SET status = 'no_access', last_error = $3, last_error_at = now()
			WHERE connection_id = $1 AND user_id = $2`, conn, user, CleanText(reason))
	}
	if err != nil {
		return fmt.Errorf("record access to mailbox %s of connection %d: %w", user, conn, err)
	}
	return nil
}
