package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/graphsync/graphsync/graphsync"
)

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("not found")

// Tx is a database transaction. It is pgx's, because River's driver takes
// the same one: a job inserted in a Tx commits with the rows written in it.
// Only the store runs statements in it.
type Tx = pgx.Tx

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
		return nil, &ConfigError{Err: fmt.Errorf("DATABASE_URL is malformed: %w", redactURLError(err))}
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
		return nil, fmt.Errorf("open database: unreachable: %w", onceEach{err})
	}
	return &Store{pool: pool, keys: keys}, nil
}

// onceEach is a connection error that names each failed attempt once: pgx
// lists an address twice when it tried it with TLS and then without.
type onceEach struct{ err error }

func (e onceEach) Unwrap() error { return e.err }

func (e onceEach) Error() string {
	lines := strings.Split(e.err.Error(), "\n")
	out := lines[:0]
	seen := map[string]bool{}
	for _, l := range lines {
		if key := strings.TrimSpace(l); !seen[key] || key == "" {
			seen[key] = true
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// ConfigError says the database settings themselves are wrong (not that
// the database is down): retrying cannot help.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// New wraps an existing pool (tests build theirs).
func New(pool *pgxpool.Pool, keys *Keyring) *Store { return &Store{pool: pool, keys: keys} }

// Pool is the underlying pool. Only tests use it, to look at what the store
// wrote.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// RiverDriver is the driver River's client needs, on the store's pool.
func (s *Store) RiverDriver() riverdriver.Driver[Tx] { return riverpgxv5.New(s.pool) }

// Keys is the keyring sealing token columns.
func (s *Store) Keys() *Keyring { return s.keys }

// WithKeys returns a store on the same pool sealing tokens with keys.
func (s *Store) WithKeys(keys *Keyring) *Store { return &Store{pool: s.pool, keys: keys} }

// Close closes the pool.
func (s *Store) Close() { s.pool.Close() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("database unreachable: %w", err)
	}
	return nil
}

// InTx runs fn in a transaction, committing when it returns nil.
func (s *Store) InTx(ctx context.Context, fn func(Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}

// redactURLError keeps a password in a malformed URL out of error text:
// pgx's parse errors can quote the string.
func redactURLError(err error) error {
	return errors.New(sanitizeParseError(err.Error()))
}

func sanitizeParseError(msg string) string {
	// pgx wraps the offending string in quotes after "cannot parse `...`".
	const mark = "cannot parse `"
	if i := strings.Index(msg, mark); i >= 0 {
		if j := strings.Index(msg[i+len(mark):], "`"); j >= 0 {
			return msg[:i+len(mark)] + "<redacted>" + msg[i+len(mark)+j:]
		}
	}
	return msg
}

// LockMailboxTx takes a transaction-scoped advisory lock on one mailbox
// (a connection's user), serialising the page writes of its streams across
// every process so that their row locks can never deadlock.
func (s *Store) LockMailboxTx(ctx context.Context, tx Tx, conn int64, user string) error {
	key := "graphsync/" + strconv.FormatInt(conn, 10) + "/" + user
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key); err != nil {
		return fmt.Errorf("lock mailbox %s of connection %d: %w", user, conn, err)
	}
	return nil
}

// Retryable reports whether err is a deadlock or serialization failure,
// after which the whole transaction may simply run again.
func Retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001")
}

// streamArgs are a stream's key columns as statement arguments.
func streamArgs(st graphsync.Stream) (int64, string, string, string) {
	return st.Connection, st.User, st.Resource.Name(), st.Container
}
