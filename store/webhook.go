package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/graphsync/graphsync/graphsync"
)

// WebhookEndpoint is an HTTP endpoint the change feed is delivered to. Its
// signing secret is not part of it: it is read, decrypted, only through
// WebhookSecret.
type WebhookEndpoint struct {
	ID     int64
	URL    string
	Filter ChangeFilter
	// Cursor is what has been delivered: within a batch, the batch under
	// way (pinned, so a retry sends the same changes).
	Cursor        graphsync.Cursor
	Delivered     int64
	LastSuccessAt *time.Time
	// FailingSince is when the current run of failed deliveries began;
	// nil while deliveries succeed.
	FailingSince *time.Time
	Failures     int
	LastError    string
	LastErrorAt  *time.Time
	CreatedAt    time.Time
}

const webhookColumns = `id, url, resources, connection_ids, cursor, delivered, last_success_at, failing_since, failures,
	coalesce(last_error, ''), last_error_at, created_at`

func scanWebhook(row pgx.Row) (*WebhookEndpoint, error) {
	w := &WebhookEndpoint{}
	var cursor string
	err := row.Scan(&w.ID, &w.URL, &w.Filter.Resources, &w.Filter.Connections, &cursor, &w.Delivered, &w.LastSuccessAt,
		&w.FailingSince, &w.Failures, &w.LastError, &w.LastErrorAt, &w.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if w.Cursor, err = graphsync.ParseCursor(cursor); err != nil {
		return nil, fmt.Errorf("webhook endpoint %d: stored %w", w.ID, err)
	}
	return w, nil
}

func webhookAAD(id int64) string { return "webhook_endpoints/" + strconv.FormatInt(id, 10) + "/secret" }

// AddWebhook registers an endpoint that receives the changes f keeps from
// cursor from on, its secret stored encrypted.
func (s *Store) AddWebhook(ctx context.Context, url string, f ChangeFilter, secret string, from graphsync.Cursor) (*WebhookEndpoint, error) {
	if s.keys == nil {
		return nil, errors.New("add webhook endpoint: no encryption key configured")
	}
	if secret == "" {
		return nil, errors.New("add webhook endpoint: the signing secret is empty")
	}
	var out *WebhookEndpoint
	err := s.InTx(ctx, func(tx Tx) error {
		var id int64
		if err := tx.QueryRow(ctx, `INSERT INTO webhook_endpoints (url, resources, connection_ids, cursor)
			VALUES ($1, $2, $3, $4) RETURNING id`, url, nonNil(f.Resources), nonNilIDs(f.Connections), from.String()).Scan(&id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "UPDATE webhook_endpoints SET secret_key_id = $2, secret_enc = $3 WHERE id = $1",
			id, s.keys.PrimaryID(), s.keys.seal(secret, webhookAAD(id))); err != nil {
			return err
		}
		var err error
		out, err = scanWebhook(tx.QueryRow(ctx, "SELECT "+webhookColumns+" FROM webhook_endpoints WHERE id = $1", id))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("add webhook endpoint: %w", err)
	}
	return out, nil
}

func nonNilIDs(ids []int64) []int64 {
	if ids == nil {
		return []int64{}
	}
	return ids
}

// Webhook returns one endpoint.
func (s *Store) Webhook(ctx context.Context, id int64) (*WebhookEndpoint, error) {
	w, err := scanWebhook(s.pool.QueryRow(ctx, "SELECT "+webhookColumns+" FROM webhook_endpoints WHERE id = $1", id))
	if err != nil {
		return nil, fmt.Errorf("webhook endpoint %d: %w", id, err)
	}
	return w, nil
}

// Webhooks lists every endpoint in id order.
func (s *Store) Webhooks(ctx context.Context) ([]*WebhookEndpoint, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+webhookColumns+" FROM webhook_endpoints ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("list webhook endpoints: %w", err)
	}
	defer rows.Close()
	var out []*WebhookEndpoint
	for rows.Next() {
		w, err := scanWebhook(rows)
		if err != nil {
			return nil, fmt.Errorf("list webhook endpoints: %w", err)
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

// WebhookSecret decrypts an endpoint's signing secret.
func (s *Store) WebhookSecret(ctx context.Context, id int64) (string, error) {
	if s.keys == nil {
		return "", fmt.Errorf("secret of webhook endpoint %d: no encryption key configured", id)
	}
	var keyID string
	var enc []byte
	err := s.pool.QueryRow(ctx, "SELECT secret_key_id, secret_enc FROM webhook_endpoints WHERE id = $1", id).Scan(&keyID, &enc)
	if errors.Is(err, pgx.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("secret of webhook endpoint %d: %w", id, err)
	}
	secret, err := s.keys.open(keyID, enc, webhookAAD(id))
	if err != nil {
		return "", fmt.Errorf("secret of webhook endpoint %d: %w", id, err)
	}
	return secret, nil
}

// RemoveWebhook deletes an endpoint.
func (s *Store) RemoveWebhook(ctx context.Context, id int64) error {
	tag, err := s.pool.Exec(ctx, "DELETE FROM webhook_endpoints WHERE id = $1", id)
	if err == nil && tag.RowsAffected() == 0 {
		err = ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("remove webhook endpoint %d: %w", id, err)
	}
	return nil
}

// MoveWebhook moves an endpoint's cursor from from to to, when no other
// delivery moved it meanwhile, and counts delivered changes (a success
// when delivered is not negative: the run of failures ends). It reports
// whether the cursor was still at from.
func (s *Store) MoveWebhook(ctx context.Context, id int64, from, to graphsync.Cursor, delivered int) (bool, error) {
	sql, args := "UPDATE webhook_endpoints SET cursor = $3 WHERE id = $1 AND cursor = $2", []any{id, from.String(), to.String()}
	if delivered >= 0 {
		sql = `UPDATE webhook_endpoints SET cursor = $3, delivered = delivered + $4, last_success_at = now(),
			failing_since = NULL, failures = 0 WHERE id = $1 AND cursor = $2`
		args = append(args, delivered)
	}
	tag, err := s.pool.Exec(ctx, sql, args...)
	if err != nil {
		return false, fmt.Errorf("move webhook endpoint %d: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}

// WebhookFailed records a failed delivery to an endpoint.
func (s *Store) WebhookFailed(ctx context.Context, id int64, reason string) error {
	_, err := s.pool.Exec(ctx, `UPDATE webhook_endpoints SET failures = failures + 1, failing_since = coalesce(failing_since, now()),
		last_error = $2, last_error_at = now() WHERE id = $1`, id, CleanText(reason))
	if err != nil {
		return fmt.Errorf("record failed delivery to webhook endpoint %d: %w", id, err)
	}
	return nil
}

// ResetWebhook moves an endpoint's cursor to c, whatever it was: an
// operator's decision after it fell behind the feed's retention.
func (s *Store) ResetWebhook(ctx context.Context, id int64, c graphsync.Cursor) error {
	tag, err := s.pool.Exec(ctx, "UPDATE webhook_endpoints SET cursor = $2, failures = 0, failing_since = NULL WHERE id = $1", id, c.String())
	if err == nil && tag.RowsAffected() == 0 {
		err = ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("reset webhook endpoint %d: %w", id, err)
	}
	return nil
}

// rotateWebhookSecrets re-encrypts every endpoint's secret under the
// primary key and returns how many it changed.
func (s *Store) rotateWebhookSecrets(ctx context.Context) (int, error) {
	return s.resealRows(ctx, "webhook_endpoints", "secret_key_id", func(tx Tx, id int64) error {
		secret, err := s.WebhookSecret(ctx, id)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE webhook_endpoints SET secret_key_id = $2, secret_enc = $3 WHERE id = $1",
			id, s.keys.PrimaryID(), s.keys.seal(secret, webhookAAD(id)))
		return err
	})
}

// KickWebhookTx records, within tx, that endpoint id has changes to
// deliver: a delivery job that caught up before tx commits goes round
// again instead of completing (LockWebhookTx).
func (s *Store) KickWebhookTx(ctx context.Context, tx Tx, id int64) error {
	if _, err := tx.Exec(ctx, "UPDATE webhook_endpoints SET kicks = kicks + 1 WHERE id = $1", id); err != nil {
		return fmt.Errorf("kick webhook endpoint %d: %w", id, err)
	}
	return nil
}

// WebhookKicks returns how many times endpoint id was kicked.
func (s *Store) WebhookKicks(ctx context.Context, id int64) (int64, error) {
	return webhookKicks(ctx, s.pool, id, "")
}

// LockWebhookTx locks endpoint id's row for the rest of tx, serialising
// a delivery job's completion with KickWebhookTx, and returns its kicks.
func (s *Store) LockWebhookTx(ctx context.Context, tx Tx, id int64) (int64, error) {
	return webhookKicks(ctx, tx, id, " FOR UPDATE")
}

func webhookKicks(ctx context.Context, q querier, id int64, lock string) (int64, error) {
	var n int64
	err := q.QueryRow(ctx, "SELECT kicks FROM webhook_endpoints WHERE id = $1"+lock, id).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("webhook endpoint %d: %w", id, err)
	}
	return n, nil
}
