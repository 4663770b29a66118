package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// ContactFolder is a row of contact_folders.
type ContactFolder struct {
	ID             string
	UserID         string
	DisplayName    string
	ParentFolderID string
	Raw            []byte
}

// Contact is a row of contacts.
type Contact struct {
	ID             string
	UserID         string
	FolderID       string
	DisplayName    string
	GivenName      string
	Surname        string
	EmailAddresses []byte // JSON
	EmailAddress   string
	BusinessPhones []string
	MobilePhone    string
	HomePhones     []string
	CompanyName    string
	JobTitle       string
	Department     string
	Categories     []string
	Birthday       time.Time
	CreatedAt      time.Time
	LastModifiedAt time.Time
	Raw            []byte
}

var contactFoldersTable = syncedTable("contact_folders",
	"connection_id", "id", "user_id", "display_name", "parent_folder_id", "raw", "seen_at")

var contactsTable = syncedTable("contacts",
	"connection_id", "id", "user_id", "folder_id", "display_name", "given_name", "surname", "email_addresses",
	"email_address", "business_phones", "mobile_phone", "home_phones", "company_name", "job_title", "department",
	"categories", "birthday", "created_at", "last_modified_at", "raw", "seen_at")

// UpsertContactFoldersTx writes contact folders; seenAt, when set, marks them
// seen by a full enumeration.
func (s *Store) UpsertContactFoldersTx(ctx context.Context, tx pgx.Tx, connectionID int64, fs []ContactFolder, seenAt *time.Time) (int64, error) {
	rows := make([][]any, len(fs))
	for i, f := range fs {
		rows[i] = []any{connectionID, CleanText(f.ID), CleanText(f.UserID), textOrNil(f.DisplayName),
			textOrNil(f.ParentFolderID), CleanJSON(f.Raw), seenAt}
	}
	return upsertTx(ctx, tx, contactFoldersTable, rows)
}

// UpsertContactsTx writes contacts; seenAt, when set, marks them seen by a
// full enumeration.
func (s *Store) UpsertContactsTx(ctx context.Context, tx pgx.Tx, connectionID int64, cs []Contact, seenAt *time.Time) (int64, error) {
	rows := make([][]any, len(cs))
	for i := range cs {
		c := &cs[i]
		var birthday *time.Time
		if !c.Birthday.IsZero() {
			d := c.Birthday.UTC()
			birthday = &d
		}
		rows[i] = []any{connectionID, CleanText(c.ID), CleanText(c.UserID), textOrNil(c.FolderID), textOrNil(c.DisplayName),
			textOrNil(c.GivenName), textOrNil(c.Surname), jsonOrNil(c.EmailAddresses), textOrNil(strings.ToLower(c.EmailAddress)),
			cleanAll(c.BusinessPhones), textOrNil(c.MobilePhone), cleanAll(c.HomePhones), textOrNil(c.CompanyName),
			textOrNil(c.JobTitle), textOrNil(c.Department), cleanAll(c.Categories), birthday,
			timeOrNil(c.CreatedAt), timeOrNil(c.LastModifiedAt), CleanJSON(c.Raw), seenAt}
	}
	return upsertTx(ctx, tx, contactsTable, rows)
}

// DeleteContactFoldersTx soft-deletes contact folders and retires the
// contacts they held.
func (s *Store) DeleteContactFoldersTx(ctx context.Context, tx pgx.Tx, connectionID int64, ids []string) (int64, error) {
	n, err := softDeleteTx(ctx, tx, "contact_folders", connectionID, ids, "")
	if err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, `UPDATE contacts SET deleted_at = now(), synced_at = now()
		WHERE connection_id = $1 AND folder_id = ANY($2) AND deleted_at IS NULL`, connectionID, cleanAll(ids)); err != nil {
		return 0, fmt.Errorf("retire contacts of deleted folders: %w", err)
	}
	return n, nil
}

// RetireUnseenContactFoldersTx soft-deletes the contact folders (and their
// contacts) of a mailbox that a full enumeration begun at since did not see.
func (s *Store) RetireUnseenContactFoldersTx(ctx context.Context, tx pgx.Tx, connectionID int64, userID string, since time.Time) (int64, error) {
	rows, err := tx.Query(ctx, `SELECT id FROM contact_folders WHERE connection_id = $1 AND user_id = $2 AND deleted_at IS NULL
		AND (seen_at IS NULL OR seen_at < $3)`, connectionID, CleanText(userID), since)
	if err != nil {
		return 0, fmt.Errorf("retire unseen contact folders: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, fmt.Errorf("retire unseen contact folders: %w", err)
	}
	return s.DeleteContactFoldersTx(ctx, tx, connectionID, ids)
}

// inContactFolder is the condition that a contact row ($4 its user) is in
// the folder $3 whose delta reported it; folder "" is the default Contacts
// folder, synced by its well-known name: it holds the user's contacts that
// no listed folder holds. A contact stored under another folder has moved
// there and stays live, whichever folder is synced first.
const inContactFolder = `user_id = $4 AND CASE WHEN $3::text = '' THEN folder_id IS NULL OR NOT folder_id = ANY(
	SELECT f.id FROM contact_folders f WHERE f.connection_id = $1 AND f.user_id = $4 AND f.deleted_at IS NULL)
	ELSE folder_id IS NOT DISTINCT FROM $3 END`

// DeleteContactsTx soft-deletes contacts that the delta of folderID ("" for
// the default Contacts folder) reported removed.
func (s *Store) DeleteContactsTx(ctx context.Context, tx pgx.Tx, connectionID int64, userID, folderID string, ids []string) (int64, error) {
	return softDeleteTx(ctx, tx, "contacts", connectionID, ids, inContactFolder, CleanText(folderID), CleanText(userID))
}

// RetireUnseenContactsTx soft-deletes the contacts of a folder ("" for the
// default Contacts folder) that a full enumeration begun at since did not
// see.
func (s *Store) RetireUnseenContactsTx(ctx context.Context, tx pgx.Tx, connectionID int64, userID, folderID string, since time.Time) (int64, error) {
	tag, err := tx.Exec(ctx, `UPDATE contacts SET deleted_at = now(), synced_at = now()
		WHERE connection_id = $1 AND deleted_at IS NULL AND (seen_at IS NULL OR seen_at < $2) AND `+inContactFolder,
		connectionID, since, CleanText(folderID), CleanText(userID))
	if err != nil {
		return 0, fmt.Errorf("retire unseen contacts of folder %q: %w", folderID, err)
	}
	return tag.RowsAffected(), nil
}

// LiveContactFolders returns the ids of a mailbox's contact folders that are
// not deleted.
func (s *Store) LiveContactFolders(ctx context.Context, connectionID int64, userID string) ([]string, error) {
	rows, err := s.pool.Query(ctx, "SELECT id FROM contact_folders WHERE connection_id = $1 AND user_id = $2 AND deleted_at IS NULL ORDER BY id",
		connectionID, userID)
	if err != nil {
		return nil, fmt.Errorf("list live contact folders: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
