package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// API key scopes: what a key may do.
const (
	ScopeConnect = "connect"
	ScopeToken   = "token"
	ScopeProxy   = "proxy"
	ScopeChanges = "changes"
)

// APIScopes lists every API key scope.
var APIScopes = []string{ScopeConnect, ScopeToken, ScopeProxy, ScopeChanges}

// APIKey is a key apps authenticate with. The key itself is never stored:
// only its public prefix and its SHA-256.
type APIKey struct {
	ID     int64
	Name   string
	Prefix string
	Scopes []string
	// All lets the key use every connection; otherwise only Connections.
	All         bool
	Connections []int64
	ExpiresAt   *time.Time
	RevokedAt   *time.Time
	LastUsedAt  *time.Time
	CreatedAt   time.Time
}

// Allows reports whether the key has scope.
func (k *APIKey) Allows(scope string) bool { return slices.Contains(k.Scopes, scope) }

// Covers reports whether the key may use connection id.
func (k *APIKey) Covers(id int64) bool { return k.All || slices.Contains(k.Connections, id) }

// Errors of AuthenticateAPIKey; each means 401 to the caller.
var (
	ErrKeyInvalid = errors.New("the API key is not valid")
	ErrKeyRevoked = errors.New("the API key was revoked")
	ErrKeyExpired = errors.New("the API key has expired")
)

const apiKeyPrefix = "gsk_"

const apiKeyColumns = "id, name, prefix, scopes, all_connections, connections, expires_at, revoked_at, last_used_at, created_at"

func scanAPIKey(row pgx.Row) (*APIKey, error) {
	k := &APIKey{}
	err := row.Scan(&k.ID, &k.Name, &k.Prefix, &k.Scopes, &k.All, &k.Connections, &k.ExpiresAt, &k.RevokedAt, &k.LastUsedAt, &k.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	return k, err
}

// NewAPIKey is what a key is created with.
type NewAPIKey struct {
	Name        string
	Scopes      []string
	All         bool
	Connections []int64
	// ExpiresAt is when it stops working; zero for never.
	ExpiresAt time.Time
}

// CreateAPIKey makes a key and returns it, in plaintext, for the only time:
// the row keeps its prefix and SHA-256.
func (s *Store) CreateAPIKey(ctx context.Context, n NewAPIKey) (string, *APIKey, error) {
	switch {
	case strings.TrimSpace(n.Name) == "":
		return "", nil, errors.New("create API key: the name is empty")
	case len(n.Scopes) == 0:
		return "", nil, fmt.Errorf("create API key: no scopes; give some of %s", strings.Join(APIScopes, ", "))
	case n.All && len(n.Connections) > 0:
		return "", nil, errors.New("create API key: give either every connection or a list of them, not both")
	}
	for _, sc := range n.Scopes {
		if !slices.Contains(APIScopes, sc) {
			return "", nil, fmt.Errorf("create API key: scope %q is not one of %s", sc, strings.Join(APIScopes, ", "))
		}
	}
	var pb [6]byte
	var sb [32]byte
	if _, err := rand.Read(pb[:]); err != nil {
		return "", nil, fmt.Errorf("create API key: %w", err)
	}
	if _, err := rand.Read(sb[:]); err != nil {
		return "", nil, fmt.Errorf("create API key: %w", err)
	}
	prefix := hex.EncodeToString(pb[:])
	key := apiKeyPrefix + prefix + "_" + base64.RawURLEncoding.EncodeToString(sb[:])
	sum := sha256.Sum256([]byte(key))
	var expires *time.Time
	if !n.ExpiresAt.IsZero() {
		expires = &n.ExpiresAt
	}
	k, err := scanAPIKey(s.pool.QueryRow(ctx, `INSERT INTO api_keys (name, prefix, hash, scopes, all_connections, connections, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING `+apiKeyColumns,
		n.Name, prefix, sum[:], n.Scopes, n.All, nonNilIDs(n.Connections), expires))
	if err != nil {
		return "", nil, fmt.Errorf("create API key: %w", err)
	}
	return key, k, nil
}

// AuthenticateAPIKey returns the key's row when key is a valid, unrevoked,
// unexpired key, comparing its hash in constant time. It changes nothing
// (TouchAPIKey records a use once the request is authorized).
func (s *Store) AuthenticateAPIKey(ctx context.Context, key string) (*APIKey, error) {
	rest, ok := strings.CutPrefix(key, apiKeyPrefix)
	prefix, secret, ok2 := strings.Cut(rest, "_")
	if !ok || !ok2 || len(prefix) != 12 || secret == "" {
		return nil, ErrKeyInvalid
	}
	var hash []byte
	k := &APIKey{}
	err := s.pool.QueryRow(ctx, "SELECT hash, "+apiKeyColumns+" FROM api_keys WHERE prefix = $1", prefix).Scan(
		&hash, &k.ID, &k.Name, &k.Prefix, &k.Scopes, &k.All, &k.Connections, &k.ExpiresAt, &k.RevokedAt, &k.LastUsedAt, &k.CreatedAt)
	sum := sha256.Sum256([]byte(key))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, ErrKeyInvalid
	case err != nil:
		return nil, fmt.Errorf("authenticate API key: %w", err)
	case subtle.ConstantTimeCompare(sum[:], hash) != 1:
		return nil, ErrKeyInvalid
	case k.RevokedAt != nil:
		return nil, ErrKeyRevoked
	case k.ExpiresAt != nil && !time.Now().Before(*k.ExpiresAt):
		return nil, ErrKeyExpired
	}
	return k, nil
}

// TouchAPIKey records that a key was just used for a request it may make
// (at most once a minute).
func (s *Store) TouchAPIKey(ctx context.Context, id int64) error {
	if _, err := s.pool.Exec(ctx, `UPDATE api_keys SET last_used_at = now()
		WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`, id); err != nil {
		return fmt.Errorf("record the use of API key %d: %w", id, err)
	}
	return nil
}

// APIKeys lists every key, revoked and expired ones included, in id order.
func (s *Store) APIKeys(ctx context.Context) ([]*APIKey, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+apiKeyColumns+" FROM api_keys ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("list API keys: %w", err)
	}
	defer rows.Close()
	var out []*APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, fmt.Errorf("list API keys: %w", err)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// RevokeAPIKey revokes a key at once; revoking it again keeps the first
// time.
func (s *Store) RevokeAPIKey(ctx context.Context, id int64) error {
	tag, err := s.pool.Exec(ctx, "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1", id)
	if err != nil {
		return fmt.Errorf("revoke API key %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("revoke API key %d: %w", id, ErrNotFound)
	}
	return nil
}

// grantConnectionTx lets a key listing its connections use one more, in tx.
func grantConnectionTx(ctx context.Context, tx Tx, keyID, connectionID int64) error {
	_, err := tx.Exec(ctx, `UPDATE api_keys SET connections = array_append(connections, $2)
		WHERE id = $1 AND NOT all_connections AND NOT ($2 = ANY(connections))`, keyID, connectionID)
	return err
}
