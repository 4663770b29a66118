package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// DriveItem is a row of drive_items. It has no path: graphsync derives
// paths from the parent chain as it writes items.
type DriveItem struct {
	ID           string
	UserID       string
	DriveID      string
	Name         string
	ParentID     string
	IsRoot       bool
	IsFolder     bool
	Size         *int64
	MimeType     string
	QuickXorHash string
	SHA1Hash     string
	SHA256Hash   string
	CreatedBy    string
	ModifiedBy   string
	CreatedAt    time.Time
	ModifiedAt   time.Time
	WebURL       string
	Raw          []byte
}

var driveItemsTable = syncedTable("drive_items",
	"connection_id", "id", "user_id", "drive_id", "name", "parent_id", "is_root", "is_folder", "size",
	"mime_type", "quick_xor_hash", "sha1_hash", "sha256_hash", "created_by", "modified_by",
	"created_at", "modified_at", "web_url", "raw", "deleted_with", "seen_at")

// maxDriveDepth bounds the walks down a drive's tree, so rows that a
// half-applied round left pointing at each other cannot loop forever.
const maxDriveDepth = 512

// UpsertDriveItemsTx writes items and brings paths up to date below every
// item that is new, renamed, moved, revived or still without a path; seenAt,
// when set, marks the items seen by a full enumeration. It returns how many
// items changed.
func (s *Store) UpsertDriveItemsTx(ctx context.Context, tx pgx.Tx, connectionID int64, items []DriveItem, seenAt *time.Time) (int64, error) {
	if len(items) == 0 {
		return 0, nil
	}
	ids := make([]string, len(items))
	for i := range items {
		ids[i] = CleanText(items[i].ID)
	}
	placed, err := s.drivePlacement(ctx, tx, connectionID, ids)
	if err != nil {
		return 0, err
	}
	var moved []string
	rows := make([][]any, len(items))
	for i := range items {
		d := &items[i]
		if placed[ids[i]] != (placement{CleanText(d.Name), CleanText(d.ParentID)}) {
			moved = append(moved, ids[i])
		}
		rows[i] = []any{connectionID, ids[i], CleanText(d.UserID), textOrNil(d.DriveID), textOrNil(d.Name),
			textOrNil(d.ParentID), d.IsRoot, d.IsFolder, d.Size, textOrNil(d.MimeType), textOrNil(d.QuickXorHash),
			textOrNil(d.SHA1Hash), textOrNil(d.SHA256Hash), textOrNil(d.CreatedBy), textOrNil(d.ModifiedBy),
			timeOrNil(d.CreatedAt), timeOrNil(d.ModifiedAt), textOrNil(d.WebURL), CleanJSON(d.Raw), nil, seenAt}
	}
	n, err := upsertTx(ctx, tx, driveItemsTable, rows)
	if err != nil {
		return 0, err
	}
	if _, err := s.updatePathsTx(ctx, tx, connectionID, moved); err != nil {
		return 0, err
	}
	return n, nil
}

// placement is where a stored item sits: its name and parent.
type placement struct{ name, parent string }

// drivePlacement reads the placement of the live, placed (path known) items
// among ids; the others need their paths computed.
func (s *Store) drivePlacement(ctx context.Context, tx pgx.Tx, connectionID int64, ids []string) (map[string]placement, error) {
	rows, err := tx.Query(ctx, `SELECT id, coalesce(name, ''), coalesce(parent_id, '') FROM drive_items
		WHERE connection_id = $1 AND id = ANY($2) AND deleted_at IS NULL AND path IS NOT NULL`, connectionID, ids)
	if err != nil {
		return nil, fmt.Errorf("read drive item placement: %w", err)
	}
	defer rows.Close()
	out := make(map[string]placement, len(ids))
	for rows.Next() {
		var id string
		var p placement
		if err := rows.Scan(&id, &p.name, &p.parent); err != nil {
			return nil, fmt.Errorf("read drive item placement: %w", err)
		}
		out[id] = p
	}
	return out, rows.Err()
}

// updatePathsTx recomputes the paths of the given items and of
// everything below them, from their parents' stored paths: a renamed or
// moved folder's descendants are not reported by delta, and an item that
// arrived before its parent gets its path once the parent is written.
//
// Items below a written item that a folder deletion retired (deleted_with
// set) come back with it: Graph reported a folder alive again, or an item
// moved out of a deleted folder later in the round than the deletion.
// It returns how many rows changed.
func (s *Store) updatePathsTx(ctx context.Context, tx pgx.Tx, connectionID int64, ids []string) (int64, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	// The deepest derivation of a row wins: an item written with its
	// parent in the same page is reached from the parent's new path too.
	tag, err := tx.Exec(ctx, `
WITH RECURSIVE tree (id, path, depth) AS (
    SELECT d.id,
           CASE WHEN d.is_root THEN '/' ELSE rtrim(p.path, '/') || '/' || d.name END,
           0
    FROM drive_items d
    LEFT JOIN drive_items p ON p.connection_id = d.connection_id AND p.id = d.parent_id AND p.deleted_at IS NULL
    WHERE d.connection_id = $1 AND d.id = ANY($2) AND d.deleted_at IS NULL
  UNION ALL
    SELECT c.id, rtrim(t.path, '/') || '/' || c.name, t.depth + 1
    FROM tree t
    JOIN drive_items c ON c.connection_id = $1 AND c.parent_id = t.id
        AND (c.deleted_at IS NULL OR c.deleted_with IS NOT NULL) AND NOT c.is_root
    WHERE t.depth < $3
), best AS (
    SELECT DISTINCT ON (id) id, path FROM tree ORDER BY id, depth DESC
)
UPDATE drive_items d SET path = best.path, deleted_at = NULL, deleted_with = NULL, synced_at = now()
FROM best
WHERE d.connection_id = $1 AND d.id = best.id
    AND (d.path IS DISTINCT FROM best.path OR d.deleted_at IS NOT NULL)`,
		connectionID, cleanAll(ids), maxDriveDepth)
	if err != nil {
		return 0, fmt.Errorf("update drive paths: %w", err)
	}
	return tag.RowsAffected(), nil
}

// DeleteDriveItemsTx soft-deletes items reported deleted and retires every
// live item below them: delta need not report each descendant of a deleted
// folder. It returns how many rows it deleted.
func (s *Store) DeleteDriveItemsTx(ctx context.Context, tx pgx.Tx, connectionID int64, ids []string) (int64, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	clean := cleanAll(ids)
	tag, err := tx.Exec(ctx, `UPDATE drive_items SET deleted_at = now(), deleted_with = NULL, synced_at = now()
		WHERE connection_id = $1 AND id = ANY($2) AND (deleted_at IS NULL OR deleted_with IS NOT NULL)`, connectionID, clean)
	if err != nil {
		return 0, fmt.Errorf("delete drive items: %w", err)
	}
	n := tag.RowsAffected()
	m, err := s.retireBelowTx(ctx, tx, connectionID, clean)
	return n + m, err
}

// retireBelowTx soft-deletes the live descendants of folders, recording
// which deleted folder took them along.
func (s *Store) retireBelowTx(ctx context.Context, tx pgx.Tx, connectionID int64, folders []string) (int64, error) {
	tag, err := tx.Exec(ctx, `
WITH RECURSIVE below (id, top, depth) AS (
    SELECT c.id, c.parent_id, 1 FROM drive_items c
    WHERE c.connection_id = $1 AND c.parent_id = ANY($2) AND c.deleted_at IS NULL
  UNION ALL
    SELECT c.id, b.top, b.depth + 1 FROM below b
    JOIN drive_items c ON c.connection_id = $1 AND c.parent_id = b.id AND c.deleted_at IS NULL
    WHERE b.depth < $3
)
UPDATE drive_items d SET deleted_at = now(), deleted_with = below.top, synced_at = now()
FROM (SELECT DISTINCT ON (id) id, top FROM below ORDER BY id, depth) below
WHERE d.connection_id = $1 AND d.id = below.id AND d.deleted_at IS NULL`, connectionID, folders, maxDriveDepth)
	if err != nil {
		return 0, fmt.Errorf("retire items below deleted folders: %w", err)
	}
	return tag.RowsAffected(), nil
}

// RetireUnseenDriveItemsTx soft-deletes a user's drive items that a full
// enumeration begun at since did not see, in the drives that enumeration
// saw (its root is always among its items).
func (s *Store) RetireUnseenDriveItemsTx(ctx context.Context, tx pgx.Tx, connectionID int64, userID string, since time.Time) (int64, error) {
	tag, err := tx.Exec(ctx, `UPDATE drive_items SET deleted_at = now(), deleted_with = NULL, synced_at = now()
		WHERE connection_id = $1 AND user_id = $2 AND deleted_at IS NULL AND (seen_at IS NULL OR seen_at < $3)
		AND coalesce(drive_id, '') IN (SELECT coalesce(drive_id, '') FROM drive_items
			WHERE connection_id = $1 AND user_id = $2 AND seen_at >= $3)`,
		connectionID, CleanText(userID), since)
	if err != nil {
		return 0, fmt.Errorf("retire unseen drive items: %w", err)
	}
	return tag.RowsAffected(), nil
}

// SharePointToken is a connection's access token for its tenant's
// SharePoint, in memory only.
type SharePointToken struct {
	Resource    string // https://contoso.sharepoint.com
	AccessToken string
	Expiry      time.Time
}

// String never prints the token.
func (t SharePointToken) String() string {
	return fmt.Sprintf("SharePointToken{resource:%s access:%t expiry:%s}", t.Resource, t.AccessToken != "", t.Expiry.Format(time.RFC3339))
}

// GoString is String, for %#v.
func (t SharePointToken) GoString() string { return t.String() }

// SharePointTokenTx decrypts a connection's SharePoint token; it is empty
// when none was stored, or when the key that sealed it is gone (the caller
// redeems a new one).
func (s *Store) SharePointTokenTx(ctx context.Context, q Querier, id int64) (SharePointToken, error) {
	if s.keys == nil {
		return SharePointToken{}, errors.New("SharePoint token: no encryption key configured")
	}
	var resource, keyID *string
	var sealed []byte
	var expiry *time.Time
	err := q.QueryRow(ctx, `SELECT sharepoint_resource, sharepoint_token_key_id, sharepoint_token_enc, sharepoint_token_expires_at
		FROM connections WHERE id = $1`, id).Scan(&resource, &keyID, &sealed, &expiry)
	if errors.Is(err, pgx.ErrNoRows) {
		return SharePointToken{}, fmt.Errorf("SharePoint token of connection %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return SharePointToken{}, fmt.Errorf("SharePoint token of connection %d: %w", id, err)
	}
	var t SharePointToken
	if resource != nil {
		t.Resource = *resource
	}
	if keyID == nil || expiry == nil {
		return t, nil
	}
	access, err := s.keys.open(*keyID, sealed, tokenAAD(id, "sharepoint_token"))
	if errors.Is(err, ErrDecrypt) {
		return t, nil
	}
	if err != nil {
		return SharePointToken{}, fmt.Errorf("SharePoint token of connection %d: %w", id, err)
	}
	t.AccessToken, t.Expiry = access, *expiry
	return t, nil
}

// SaveSharePointTokenTx stores a connection's SharePoint token, encrypted
// under the primary key.
func (s *Store) SaveSharePointTokenTx(ctx context.Context, q Querier, id int64, t SharePointToken) error {
	if s.keys == nil {
		return errors.New("save SharePoint token: no encryption key configured")
	}
	_, err := q.Exec(ctx, `UPDATE connections SET sharepoint_resource = $2, sharepoint_token_key_id = $3,
		sharepoint_token_enc = $4, sharepoint_token_expires_at = $5, updated_at = now() WHERE id = $1`,
		id, textOrNil(t.Resource), s.keys.PrimaryID(), s.keys.seal(t.AccessToken, tokenAAD(id, "sharepoint_token")), timeOrNil(t.Expiry))
	if err != nil {
		return fmt.Errorf("save SharePoint token of connection %d: %w", id, err)
	}
	return nil
}
