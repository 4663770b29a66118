package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// AppRefusal is the identity platform's last refusal of the app's own
// credentials, shared by every worker until a token is issued again.
type AppRefusal struct {
	Code, Reason string
	At           time.Time
}

// SetAppRefusal records that the identity platform refused the app's
// credentials.
func (s *Store) SetAppRefusal(ctx context.Context, code, reason string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO app_credentials_refusal (code, reason) VALUES ($1, $2)
		ON CONFLICT (singleton) DO UPDATE SET code = $1, reason = $2, refused_at = now()`, CleanText(code), CleanText(reason))
	if err != nil {
		return fmt.Errorf("record the refusal of the app's credentials: %w", err)
	}
	return nil
}

// ClearAppRefusal forgets the refusal: the app's credentials were accepted.
func (s *Store) ClearAppRefusal(ctx context.Context) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM app_credentials_refusal`); err != nil {
		return fmt.Errorf("clear the refusal of the app's credentials: %w", err)
	}
	return nil
}

// AppRefusal returns the recorded refusal, nil when there is none.
func (s *Store) AppRefusal(ctx context.Context) (*AppRefusal, error) {
	var r AppRefusal
	err := s.pool.QueryRow(ctx, `SELECT code, reason, refused_at FROM app_credentials_refusal`).Scan(&r.Code, &r.Reason, &r.At)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the refusal of the app's credentials: %w", err)
	}
	return &r, nil
}

// Undecryptable lists the connections whose stored tokens the keyring
// cannot open (sealed under a key no longer configured, or damaged).
func (s *Store) Undecryptable(ctx context.Context) ([]int64, error) {
	if s.keys == nil {
		return nil, errors.New("check tokens: no encryption key configured")
	}
	rows, err := s.pool.Query(ctx, `SELECT id FROM connections WHERE token_key_id IS NOT NULL ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("check tokens: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("check tokens: %w", err)
	}
	var bad []int64
	for _, id := range ids {
		_, err := s.tokensTx(ctx, s.pool, id)
		switch {
		case errors.Is(err, ErrDecrypt):
			bad = append(bad, id)
		case errors.Is(err, ErrNotFound): // deleted meanwhile
		case err != nil:
			return bad, fmt.Errorf("check tokens of connection %d: %w", id, err)
		}
	}
	return bad, nil
}
