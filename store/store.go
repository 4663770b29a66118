package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("not found")

// Store is graphsync's handle on PostgreSQL.
type Store struct {
	pool *pgxpool.Pool
	keys *Keyring
}

// Open connects to the database at url. keys seals and opens token columns;
// it may be nil for commands that never touch tokens (migrate, status).
func Open(ctx context.Context, url string, keys *Keyring) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open database: parse DATABASE_URL: %w", redactURLError(err))
	}
	if cfg.MaxConns < 20 {
		cfg.MaxConns = 20
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open database: %w", err)
	}
	return &Store{pool: pool, keys: keys}, nil
}

// New wraps an existing pool.
func New(pool *pgxpool.Pool, keys *Keyring) *Store { return &Store{pool: pool, keys: keys} }

// Pool is the underlying pool, for River's driver and for tests.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Keys is the keyring sealing token columns.
func (s *Store) Keys() *Keyring { return s.keys }

// Close closes the pool.
func (s *Store) Close() { s.pool.Close() }

// Tx runs fn in a transaction, committing when it returns nil.
func (s *Store) Tx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}

// redactURLError keeps a password in a malformed URL out of error text:
// pgx's parse errors can quote the string.
func redactURLError(err error) error {
	return errors.New(sanitizeParseError(err.Error()))
}

func sanitizeParseError(msg string) string {
	// pgx wraps the offending string in quotes after "cannot parse `...`".
	if i := indexOf(msg, "cannot parse `"); i >= 0 {
		if j := indexOf(msg[i+14:], "`"); j >= 0 {
			return msg[:i+14] + "<redacted>" + msg[i+14+j:]
		}
	}
	return msg
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// LockTx takes a transaction-scoped advisory lock on key, serialising
// writers of the same group (one mailbox's folders) across every process so
// that their row locks can never deadlock.
func (s *Store) LockTx(ctx context.Context, tx pgx.Tx, key string) error {
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key); err != nil {
		return fmt.Errorf("lock %s: %w", key, err)
	}
	return nil
}

// Retryable reports whether err is a deadlock or serialization failure,
// after which the whole transaction may simply run again.
func Retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001")
}
