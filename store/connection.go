package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/jackc/pgx/v5"
)

// Connection kinds.
const (
	KindDelegated   = "delegated"
	KindApplication = "application"
)

// Connection statuses.
const (
	StatusActive      = "active"
	StatusNeedsReauth = "needs_reauth"
	// StatusNeedsAdmin: the connection's tenant refuses the app (tenant not
	// found, app not installed, consented or enabled there); the tenant's
	// administrator must act.
	StatusNeedsAdmin = "needs_admin"
	StatusDisabled   = "disabled"
)

// Statuses lists every connection status.
var Statuses = []string{StatusActive, StatusNeedsReauth, StatusNeedsAdmin, StatusDisabled}

// Connection is one Microsoft account or tenant graphsync syncs. Its tokens
// are not part of it: they are read, decrypted, only through Tokens.
type Connection struct {
	ID                   int64
	Kind                 string
	TenantID             string
	UserID               string
	UserPrincipalName    string
	DisplayName          string
	Scopes               []string
	Resources            []*graphsync.Resource
	Status               string
	LastError            string
	LastErrorCode        string
	LastErrorAt          *time.Time
	AccessTokenExpiresAt *time.Time
	TokenRefreshedAt     *time.Time
	CreatedAt            time.Time
	UpdatedAt            time.Time
}

// Tokens are a connection's OAuth tokens in plaintext, in memory only.
type Tokens struct {
	AccessToken  string
	RefreshToken string
	Expiry       time.Time
}

// String never prints the tokens, so a Tokens logged by mistake leaks nothing.
func (t Tokens) String() string {
	return fmt.Sprintf("Tokens{access:%t refresh:%t expiry:%s}", t.AccessToken != "", t.RefreshToken != "", t.Expiry.Format(time.RFC3339))
}

// GoString is String, for %#v.
func (t Tokens) GoString() string { return t.String() }

const connectionColumns = `id, kind, tenant_id, user_id, user_principal_name, display_name, scopes, resources,
	status, coalesce(last_error, ''), coalesce(last_error_code, ''), last_error_at, access_token_expires_at,
	token_refreshed_at, created_at, updated_at`

func scanConnection(row pgx.Row) (*Connection, error) {
	c := &Connection{}
	var resources []string
	err := row.Scan(&c.ID, &c.Kind, &c.TenantID, &c.UserID, &c.UserPrincipalName, &c.DisplayName, &c.Scopes,
		&resources, &c.Status, &c.LastError, &c.LastErrorCode, &c.LastErrorAt, &c.AccessTokenExpiresAt,
		&c.TokenRefreshedAt, &c.CreatedAt, &c.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if c.Resources, err = storedResources(resources, "connection", c.ID); err != nil {
		return nil, err
	}
	return c, nil
}

// storedResources reads the resources a row of owner lists.
func storedResources(names []string, owner string, id int64) ([]*graphsync.Resource, error) {
	var out []*graphsync.Resource
	for _, name := range names {
		r, err := graphsync.ParseResource(name)
		if err != nil || r == graphsync.Users {
			return nil, fmt.Errorf("%s %d lists resource %q, which this version of graphsync does not know", owner, id, name)
		}
		out = append(out, r)
	}
	return out, nil
}

// SaveConnection inserts a connection, or updates the one with the same kind,
// tenant and user (a user connecting again), storing its tokens encrypted and
// making it active. It returns the stored connection.
func (s *Store) SaveConnection(ctx context.Context, c *Connection, tok Tokens) (*Connection, error) {
	if err := checkConnection(s, c); err != nil {
		return nil, fmt.Errorf("save connection: %w", err)
	}
	var out *Connection
	err := s.InTx(ctx, func(tx Tx) error {
		var err error
		out, err = s.saveConnectionTx(ctx, tx, c, tok)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("save connection: %w", err)
	}
	return out, nil
}

// applicationOnly says which of rs a delegated connection cannot sync.
func applicationOnly(rs []*graphsync.Resource) error {
	return fmt.Errorf("%s: read for a whole tenant, only an application connection syncs it", graphsync.Names(graphsync.ApplicationOnly(rs)))
}

// checkConnection says what keeps c from being stored.
func checkConnection(s *Store, c *Connection) error {
	switch {
	case s.keys == nil:
		return errors.New("no encryption key configured")
	case c.Kind != KindDelegated && c.Kind != KindApplication:
		return fmt.Errorf("kind %q is neither %s nor %s", c.Kind, KindDelegated, KindApplication)
	case c.TenantID == "":
		return errors.New("tenant id is empty")
	case c.Kind == KindDelegated && c.UserID == "":
		return errors.New("user id is empty for a delegated connection")
	case c.Kind == KindDelegated && len(graphsync.ApplicationOnly(c.Resources)) > 0:
		return applicationOnly(c.Resources)
	}
	return nil
}

// saveConnectionTx is SaveConnection within tx.
func (s *Store) saveConnectionTx(ctx context.Context, tx Tx, c *Connection, tok Tokens) (*Connection, error) {
	var id int64
	err := tx.QueryRow(ctx, `
		INSERT INTO connections (kind, tenant_id, user_id, user_principal_name, display_name, scopes, resources, status)
		VALUES ($1, $2, $3, $4, $5, $6, $7, 'active')
		ON CONFLICT (kind, tenant_id, user_id) DO UPDATE SET
			user_principal_name = EXCLUDED.user_principal_name,
			display_name = EXCLUDED.display_name,
			scopes = EXCLUDED.scopes,
			resources = EXCLUDED.resources,
			status = 'active', last_error = NULL, last_error_code = NULL, last_error_at = NULL,
			updated_at = now()
		RETURNING id`,
		c.Kind, c.TenantID, c.UserID, c.UserPrincipalName, c.DisplayName, nonNil(c.Scopes), nonNil(graphsync.Names(c.Resources))).Scan(&id)
	if err != nil {
		return nil, err
	}
	if err := s.SaveTokensTx(ctx, tx, id, tok); err != nil {
		return nil, err
	}
	return scanConnection(tx.QueryRow(ctx, "SELECT "+connectionColumns+" FROM connections WHERE id = $1", id))
}

// Connection returns one connection.
func (s *Store) Connection(ctx context.Context, id int64) (*Connection, error) {
	c, err := scanConnection(s.pool.QueryRow(ctx, "SELECT "+connectionColumns+" FROM connections WHERE id = $1", id))
	if err != nil {
		return nil, fmt.Errorf("connection %d: %w", id, err)
	}
	return c, nil
}

// Connections lists every connection in id order.
func (s *Store) Connections(ctx context.Context) ([]*Connection, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+connectionColumns+" FROM connections ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("list connections: %w", err)
	}
	defer rows.Close()
	var out []*Connection
	for rows.Next() {
		c, err := scanConnection(rows)
		if err != nil {
			return nil, fmt.Errorf("list connections: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// SetStatus changes a connection's status, recording why (empty code and
// reason clear the last error).
func (s *Store) SetStatus(ctx context.Context, id int64, status, code, reason string) error {
	return setStatus(ctx, s.pool, id, status, code, reason)
}

// SetStatusTx is SetStatus within tx.
func (s *Store) SetStatusTx(ctx context.Context, tx Tx, id int64, status, code, reason string) error {
	return setStatus(ctx, tx, id, status, code, reason)
}

func setStatus(ctx context.Context, tx querier, id int64, status, code, reason string) error {
	if !slices.Contains(Statuses, status) {
		return fmt.Errorf("set status of connection %d: unknown status %q", id, status)
	}
	tag, err := tx.Exec(ctx, `UPDATE connections SET status = $2,
		last_error = nullif($4, ''), last_error_code = nullif($3, ''),
		last_error_at = CASE WHEN $4 = '' THEN NULL ELSE now() END, updated_at = now()
		WHERE id = $1`, id, status, code, reason)
	if err != nil {
		return fmt.Errorf("set status of connection %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("set status of connection %d: %w", id, ErrNotFound)
	}
	return nil
}

// SetTenantStatusTx marks every active connection of a tenant (its id or
// domain, in any case) with status, code and reason, within tx: a tenant
// that refuses the app refuses it for all of them. It returns the ids it
// marked.
func (s *Store) SetTenantStatusTx(ctx context.Context, tx Tx, tenant, status, code, reason string) ([]int64, error) {
	if !slices.Contains(Statuses, status) {
		return nil, fmt.Errorf("set status of tenant %s: unknown status %q", tenant, status)
	}
	rows, err := tx.Query(ctx, `UPDATE connections SET status = $2, last_error = nullif($4, ''),
		last_error_code = nullif($3, ''), last_error_at = now(), updated_at = now()
		WHERE lower(tenant_id) = lower($1) AND status = 'active' RETURNING id`, tenant, status, code, CleanText(reason))
	if err != nil {
		return nil, fmt.Errorf("set status of tenant %s: %w", tenant, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("set status of tenant %s: %w", tenant, err)
	}
	return ids, nil
}

// SetResources replaces the resources synced for a connection.
func (s *Store) SetResources(ctx context.Context, id int64, resources []*graphsync.Resource) error {
	var kind string
	err := s.pool.QueryRow(ctx, "UPDATE connections SET resources = $2, updated_at = now() WHERE id = $1 AND (kind = $3 OR cardinality($4::text[]) = 0) RETURNING kind",
		id, nonNil(graphsync.Names(resources)), KindApplication, nonNil(graphsync.Names(graphsync.ApplicationOnly(resources)))).Scan(&kind)
	if errors.Is(err, pgx.ErrNoRows) {
		if _, err := s.Connection(ctx, id); err != nil {
			return fmt.Errorf("set resources of connection %d: %w", id, err)
		}
		return fmt.Errorf("set resources of connection %d: %w", id, applicationOnly(resources))
	}
	if err != nil {
		return fmt.Errorf("set resources of connection %d: %w", id, err)
	}
	return nil
}

// DeleteConnection removes a connection with every row synced through it, in
// one transaction (the synced tables cascade from connections).
func (s *Store) DeleteConnection(ctx context.Context, id int64) error {
	tag, err := s.pool.Exec(ctx, "DELETE FROM connections WHERE id = $1", id)
	if err != nil {
		return fmt.Errorf("delete connection %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete connection %d: %w", id, ErrNotFound)
	}
	return nil
}

func tokenAAD(id int64, column string) string {
	return "connections/" + strconv.FormatInt(id, 10) + "/" + column
}

// SaveTokensTx stores a connection's tokens, encrypted, within tx. An empty
// refresh token keeps the stored one (client-credentials tokens have none,
// and the identity platform may not rotate on every refresh).
func (s *Store) SaveTokensTx(ctx context.Context, tx Tx, id int64, tok Tokens) error {
	if s.keys == nil {
		return errors.New("save tokens: no encryption key configured")
	}
	access := s.keys.seal(tok.AccessToken, tokenAAD(id, "access_token"))
	refresh := s.keys.seal(tok.RefreshToken, tokenAAD(id, "refresh_token"))
	var expiry *time.Time
	if !tok.Expiry.IsZero() {
		expiry = &tok.Expiry
	}
	if tok.RefreshToken == "" {
		// Keep the old refresh token, re-sealed under the primary key if needed.
		old, err := s.tokensTx(ctx, tx, id)
		if err != nil {
			return fmt.Errorf("save tokens of connection %d: %w", id, err)
		}
		refresh = s.keys.seal(old.RefreshToken, tokenAAD(id, "refresh_token"))
	}
	_, err := tx.Exec(ctx, `UPDATE connections SET token_key_id = $2, access_token_enc = $3, refresh_token_enc = $4,
		access_token_expires_at = $5, token_refreshed_at = now(), updated_at = now() WHERE id = $1`,
		id, s.keys.PrimaryID(), access, refresh, expiry)
	if err != nil {
		return fmt.Errorf("save tokens of connection %d: %w", id, err)
	}
	return nil
}

// Tokens decrypts a connection's tokens.
func (s *Store) Tokens(ctx context.Context, id int64) (Tokens, error) {
	t, err := s.tokensTx(ctx, s.pool, id)
	if err != nil {
		return Tokens{}, fmt.Errorf("tokens of connection %d: %w", id, err)
	}
	return t, nil
}

// LockTokensTx locks a connection's row for the rest of tx and returns its
// tokens, so only one process at a time refreshes a connection.
func (s *Store) LockTokensTx(ctx context.Context, tx Tx, id int64) (*Connection, Tokens, error) {
	c, err := scanConnection(tx.QueryRow(ctx, "SELECT "+connectionColumns+" FROM connections WHERE id = $1 FOR UPDATE", id))
	if err != nil {
		return nil, Tokens{}, fmt.Errorf("lock connection %d: %w", id, err)
	}
	t, err := s.tokensTx(ctx, tx, id)
	if err != nil {
		return nil, Tokens{}, fmt.Errorf("lock connection %d: %w", id, err)
	}
	return c, t, nil
}

func (s *Store) tokensTx(ctx context.Context, q querier, id int64) (Tokens, error) {
	if s.keys == nil {
		return Tokens{}, errors.New("no encryption key configured")
	}
	var keyID *string
	var access, refresh []byte
	var expiry *time.Time
	err := q.QueryRow(ctx, `SELECT token_key_id, access_token_enc, refresh_token_enc, access_token_expires_at
		FROM connections WHERE id = $1`, id).Scan(&keyID, &access, &refresh, &expiry)
	if errors.Is(err, pgx.ErrNoRows) {
		return Tokens{}, ErrNotFound
	}
	if err != nil {
		return Tokens{}, err
	}
	if keyID == nil {
		return Tokens{}, nil
	}
	var t Tokens
	if t.AccessToken, err = s.keys.open(*keyID, access, tokenAAD(id, "access_token")); err != nil {
		return Tokens{}, fmt.Errorf("access token: %w", err)
	}
	if t.RefreshToken, err = s.keys.open(*keyID, refresh, tokenAAD(id, "refresh_token")); err != nil {
		return Tokens{}, fmt.Errorf("refresh token: %w", err)
	}
	if expiry != nil {
		t.Expiry = *expiry
	}
	return t, nil
}

// RotateKeys re-encrypts every connection's tokens, every subscription's
// clientState and every webhook endpoint's signing secret under the primary
// key, one row per transaction with the row locked, so workers refreshing
// tokens at the same time are never disturbed. It returns how many rows
// changed.
func (s *Store) RotateKeys(ctx context.Context) (int, error) {
	if s.keys == nil {
		return 0, errors.New("rotate keys: no encryption key configured")
	}
	n, err := s.resealRows(ctx, "connections", "token_key_id", func(tx Tx, id int64) error {
		tok, err := s.tokensTx(ctx, tx, id)
		if err != nil {
			return err
		}
		access := s.keys.seal(tok.AccessToken, tokenAAD(id, "access_token"))
		refresh := s.keys.seal(tok.RefreshToken, tokenAAD(id, "refresh_token"))
		_, err = tx.Exec(ctx, "UPDATE connections SET token_key_id = $2, access_token_enc = $3, refresh_token_enc = $4 WHERE id = $1",
			id, s.keys.PrimaryID(), access, refresh)
		return err
	})
	if err != nil {
		return n, err
	}
	subs, err := s.rotateSubscriptionKeys(ctx)
	if err != nil {
		return n + subs, err
	}
	hooks, err := s.rotateWebhookSecrets(ctx)
	return n + subs + hooks, err
}

// resealRows re-seals, with reseal, every row of table whose keyColumn names
// another key than the primary one: one row per transaction, locked, and
// skipped when a worker re-sealed it meanwhile. A row gone meanwhile, or
// whose secret no key opens (ErrDecrypt), is left alone.
func (s *Store) resealRows(ctx context.Context, table, keyColumn string, reseal func(tx Tx, id int64) error) (int, error) {
	rows, err := s.pool.Query(ctx, "SELECT id FROM "+table+" WHERE "+keyColumn+" IS DISTINCT FROM $1 AND "+keyColumn+
		" IS NOT NULL ORDER BY id", s.keys.PrimaryID())
	if err != nil {
		return 0, fmt.Errorf("rotate keys: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return 0, fmt.Errorf("rotate keys: %w", err)
	}
	n := 0
	for _, id := range ids {
		err := s.InTx(ctx, func(tx Tx) error {
			var keyID string
			if err := tx.QueryRow(ctx, "SELECT coalesce("+keyColumn+", '') FROM "+table+" WHERE id = $1 FOR UPDATE", id).Scan(&keyID); err != nil {
				return err
			}
			if keyID == s.keys.PrimaryID() || keyID == "" {
				return nil // a worker re-sealed it meanwhile
			}
			if err := reseal(tx, id); err != nil {
				return err
			}
			n++
			return nil
		})
		switch {
		case errors.Is(err, pgx.ErrNoRows), errors.Is(err, ErrNotFound), errors.Is(err, ErrDecrypt) && table == "subscriptions":
		case err != nil:
			return n, fmt.Errorf("rotate keys: %s %d: %w", table, id, err)
		}
	}
	return n, nil
}

// ErrNoResources: a connection cannot be created without resources.
var ErrNoResources = errors.New("resources is missing: a new connection needs them")

// Import outcomes.
const (
	ImportCreated = "created"
	ImportUpdated = "updated"
	ImportExists  = "exists"
)

// ImportConnection stores a delegated connection from an import line: a new
// one is created active with its refresh token. An existing one (same
// tenant and user) is left alone unless replace is set; then its refresh
// token is replaced and the fields the line gives (a non-empty UPN, non-nil
// scopes or resources) replace theirs, while everything else stays: its
// access token, display name, and a status an operator set (disabled);
// needs_reauth and needs_admin become active, the new grant being worth a
// try. It returns the outcome and the connection as stored.
func (s *Store) ImportConnection(ctx context.Context, c *Connection, refreshToken string, replace bool) (string, *Connection, error) {
	if s.keys == nil {
		return "", nil, errors.New("import connection: no encryption key configured")
	}
	if c.TenantID == "" || c.UserID == "" || refreshToken == "" {
		return "", nil, errors.New("import connection: tenant id, user id and refresh token are required")
	}
	var outcome string
	var out *Connection
	err := s.InTx(ctx, func(tx Tx) error {
		existing, err := scanConnection(tx.QueryRow(ctx, "SELECT "+connectionColumns+
			" FROM connections WHERE kind = 'delegated' AND tenant_id = $1 AND user_id = $2 FOR UPDATE", c.TenantID, c.UserID))
		switch {
		case errors.Is(err, ErrNotFound) && c.Resources == nil:
			return ErrNoResources
		case errors.Is(err, ErrNotFound):
			c.Kind = KindDelegated
			if out, err = s.saveConnectionTx(ctx, tx, c, Tokens{RefreshToken: refreshToken}); err != nil {
				return err
			}
			outcome = ImportCreated
			return nil
		case err != nil:
			return err
		case !replace:
			out, outcome = existing, ImportExists
			return nil
		}
		var scopes, resources []string
		if c.Scopes != nil {
			scopes = nonNil(c.Scopes)
		}
		if c.Resources != nil {
			resources = nonNil(graphsync.Names(c.Resources))
		}
		if _, err := tx.Exec(ctx, `UPDATE connections SET
				user_principal_name = coalesce(nullif($2, ''), user_principal_name),
				scopes = coalesce($3, scopes), resources = coalesce($4, resources),
				status = CASE status WHEN 'disabled' THEN 'disabled' ELSE 'active' END,
				last_error = CASE status WHEN 'disabled' THEN last_error END,
				last_error_code = CASE status WHEN 'disabled' THEN last_error_code END,
				last_error_at = CASE status WHEN 'disabled' THEN last_error_at END,
				updated_at = now()
			WHERE id = $1`, existing.ID, c.UserPrincipalName, scopes, resources); err != nil {
			return err
		}
		// The access token stays: it is still valid for the same user. One
		// that cannot be opened any more is dropped; the refresh token
		// brings a new one.
		old, err := s.tokensTx(ctx, tx, existing.ID)
		if err != nil && !errors.Is(err, ErrDecrypt) {
			return err
		}
		if err := s.SaveTokensTx(ctx, tx, existing.ID, Tokens{AccessToken: old.AccessToken, RefreshToken: refreshToken, Expiry: old.Expiry}); err != nil {
			return err
		}
		outcome = ImportUpdated
		out, err = scanConnection(tx.QueryRow(ctx, "SELECT "+connectionColumns+" FROM connections WHERE id = $1", existing.ID))
		return err
	})
	if err != nil {
		return "", nil, fmt.Errorf("import connection: %w", err)
	}
	return outcome, out, nil
}
