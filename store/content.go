package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"
)

// Attachment content lives in PostgreSQL large objects (mail_attachments.
// content_oid), written in chunks as it arrives from Graph: neither this
// process nor the server ever holds a whole attachment, where a bytea value
// is one datum the server assembles in memory whole, on writing and on
// reading. docs/schema.md says more.

// contentChunk is how much of an attachment is copied at a time.
const contentChunk = 256 << 10

// ErrContentTooLarge is content longer than the cap it was stored under.
var ErrContentTooLarge = errors.New("attachment content is larger than the size cap")

// PendingContent is an attachment whose content is to be stored.
type PendingContent struct {
	ID, MessageID, Kind string
	Size                int64
}

// PendingContents returns up to limit live attachments of a user whose
// content is neither stored nor skipped.
func (s *Store) PendingContents(ctx context.Context, conn int64, user string, limit int) ([]PendingContent, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, coalesce(message_id, ''), coalesce(kind, ''), coalesce(size, 0) FROM mail_attachments
		WHERE connection_id = $1 AND user_id = $2 AND deleted_at IS NULL AND content_sha256 IS NULL AND content_skipped IS NULL
		ORDER BY id LIMIT $3`, conn, CleanText(user), limit)
	if err != nil {
		return nil, fmt.Errorf("list attachments whose content to store: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (PendingContent, error) {
		var p PendingContent
		return p, r.Scan(&p.ID, &p.MessageID, &p.Kind, &p.Size)
	})
	if err != nil {
		return nil, fmt.Errorf("list attachments whose content to store: %w", err)
	}
	return out, nil
}

// SkipContent records why an attachment's content is not stored.
func (s *Store) SkipContent(ctx context.Context, conn int64, id, reason string) error {
	if _, err := s.pool.Exec(ctx, `UPDATE mail_attachments SET content_skipped = $3, synced_at = now()
		WHERE connection_id = $1 AND id = $2 AND content_sha256 IS NULL`, conn, CleanText(id), reason); err != nil {
		return fmt.Errorf("skip content of attachment %s: %w", id, err)
	}
	return nil
}

// StoredContent is what StoreContent wrote.
type StoredContent struct {
	Length int64
	SHA256 string
}

// StoreContent streams an attachment's content from r into a new large
// object, hashing it on the way, and names it on the attachment's row, all
// in one transaction: a failure part-way leaves nothing behind, and the
// caller may simply start over. Content longer than max is refused with
// ErrContentTooLarge.
func (s *Store) StoreContent(ctx context.Context, conn int64, id string, r io.Reader, max int64) (StoredContent, error) {
	var out StoredContent
	err := s.InTx(ctx, func(tx Tx) error {
		los := tx.LargeObjects()
		oid, err := los.Create(ctx, 0)
		if err != nil {
			return err
		}
		lo, err := los.Open(ctx, oid, pgx.LargeObjectModeWrite)
		if err != nil {
			return err
		}
		h := sha256.New()
		buf := make([]byte, contentChunk)
		n, err := io.CopyBuffer(io.MultiWriter(lo, h), io.LimitReader(r, max+1), buf)
		if err != nil {
			return err
		}
		if n > max {
			return ErrContentTooLarge
		}
		if err := lo.Close(); err != nil {
			return err
		}
		out = StoredContent{Length: n, SHA256: hex.EncodeToString(h.Sum(nil))}
		tag, err := tx.Exec(ctx, `UPDATE mail_attachments SET content_oid = $3, content_length = $4, content_sha256 = $5,
			content_stored_at = now(), content_skipped = NULL, synced_at = now()
			WHERE connection_id = $1 AND id = $2`, conn, CleanText(id), oid, n, out.SHA256)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return StoredContent{}, fmt.Errorf("store content of attachment %s: %w", id, err)
	}
	return out, nil
}

// AttachmentContentOn says whether a connection keeps attachment content:
// its own setting, or def when it has none.
func (s *Store) AttachmentContentOn(ctx context.Context, conn int64, def bool) (bool, error) {
	on, err := s.AttachmentContent(ctx, conn)
	if err != nil || on == nil {
		return def, err
	}
	return *on, nil
}

// AttachmentContent is a connection's own attachment-content setting, nil
// when it follows the worker's default.
func (s *Store) AttachmentContent(ctx context.Context, conn int64) (*bool, error) {
	var on *bool
	if err := s.pool.QueryRow(ctx, `SELECT attachment_content FROM connections WHERE id = $1`, conn).Scan(&on); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("read attachment setting of connection %d: %w", conn, err)
	}
	return on, nil
}

// SetAttachmentContent sets whether a connection keeps attachment content;
// nil follows the worker's default.
func (s *Store) SetAttachmentContent(ctx context.Context, conn int64, on *bool) error {
	tag, err := s.pool.Exec(ctx, `UPDATE connections SET attachment_content = $2, updated_at = now() WHERE id = $1`, conn, on)
	if err != nil {
		return fmt.Errorf("set attachment setting of connection %d: %w", conn, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}
