package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/graphsync/graphsync/graphsync"
)

// ConnectSession is a hosted connect session: an app's request to connect
// an account, carried out by whichever worker process its user reaches.
type ConnectSession struct {
	ID           int64
	APIKeyID     *int64
	Kind         string // KindDelegated or KindApplication
	Resources    []*graphsync.Resource
	Tenant       string
	Prompt       string
	LoginHint    string
	EndUser      string
	ReturnURL    string
	Status       string
	ConnectionID *int64
	ErrorCode    string
	ExpiresAt    time.Time
	CreatedAt    time.Time
}

// Session statuses.
const (
	SessionPending   = "pending"
	SessionStarted   = "started"
	SessionCompleted = "completed"
	SessionFailed    = "failed"
)

// Errors of the session steps; the link or state was valid once.
var (
	ErrSessionUsed    = errors.New("the connect session was already used")
	ErrSessionExpired = errors.New("the connect session has expired")
)

const sessionColumns = `id, api_key_id, kind, resources, tenant, prompt, login_hint, end_user, return_url, status,
	connection_id, coalesce(error_code, ''), expires_at, created_at`

func scanSession(row pgx.Row) (*ConnectSession, error) {
	s := &ConnectSession{}
	var resources []string
	err := row.Scan(&s.ID, &s.APIKeyID, &s.Kind, &resources, &s.Tenant, &s.Prompt, &s.LoginHint, &s.EndUser, &s.ReturnURL,
		&s.Status, &s.ConnectionID, &s.ErrorCode, &s.ExpiresAt, &s.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if s.Resources, err = storedResources(resources, "connect session", s.ID); err != nil {
		return nil, err
	}
	return s, nil
}

func secretHash(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

func verifierAAD(id int64) string {
	return "connect_sessions/" + strconv.FormatInt(id, 10) + "/verifier"
}

// CreateConnectSession stores a pending session valid for ttl and returns
// the secret of its link, in plaintext for the only time.
func (s *Store) CreateConnectSession(ctx context.Context, cs *ConnectSession, ttl time.Duration) (string, *ConnectSession, error) {
	if cs.Kind != KindDelegated && cs.Kind != KindApplication {
		return "", nil, fmt.Errorf("create connect session: kind %q is neither %s nor %s", cs.Kind, KindDelegated, KindApplication)
	}
	if len(cs.Resources) == 0 || cs.Tenant == "" || cs.ReturnURL == "" || ttl <= 0 {
		return "", nil, errors.New("create connect session: resources, tenant, return URL and a positive lifetime are required")
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("create connect session: %w", err)
	}
	secret := base64.RawURLEncoding.EncodeToString(b)
	out, err := scanSession(s.pool.QueryRow(ctx, `INSERT INTO connect_sessions
		(token_hash, api_key_id, kind, resources, tenant, prompt, login_hint, end_user, return_url, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now() + $10::interval) RETURNING `+sessionColumns,
		secretHash(secret), cs.APIKeyID, cs.Kind, nonNil(graphsync.Names(cs.Resources)), cs.Tenant, cs.Prompt, cs.LoginHint,
		CleanText(cs.EndUser), cs.ReturnURL, ttl.String()))
	if err != nil {
		return "", nil, fmt.Errorf("create connect session: %w", err)
	}
	return secret, out, nil
}

// ConnectSessionByLink returns the session of a link's secret, whatever
// its state.
func (s *Store) ConnectSessionByLink(ctx context.Context, secret string) (*ConnectSession, error) {
	cs, err := scanSession(s.pool.QueryRow(ctx, "SELECT "+sessionColumns+" FROM connect_sessions WHERE token_hash = $1", secretHash(secret)))
	if err != nil {
		return nil, fmt.Errorf("connect session: %w", err)
	}
	return cs, nil
}

// StartConnectSession moves a pending, unexpired session to started, once:
// it keeps the OAuth state's hash and the PKCE verifier, sealed. A link
// opened again gets ErrSessionUsed; one past its time ErrSessionExpired
// (with the session, to send its user back).
func (s *Store) StartConnectSession(ctx context.Context, secret, state, verifier string) (*ConnectSession, error) {
	if s.keys == nil {
		return nil, errors.New("start connect session: no encryption key configured")
	}
	var out *ConnectSession
	err := s.InTx(ctx, func(tx Tx) error {
		cs, err := lockSession(ctx, tx, "token_hash", secretHash(secret))
		out = cs
		if err != nil {
			return err
		}
		if cs.Status != SessionPending {
			return ErrSessionUsed
		}
		if _, err := tx.Exec(ctx, `UPDATE connect_sessions SET status = 'started', started_at = now(), state_hash = $2,
			verifier_key_id = $3, verifier_enc = $4 WHERE id = $1`,
			cs.ID, secretHash(state), s.keys.PrimaryID(), s.keys.seal(verifier, verifierAAD(cs.ID))); err != nil {
			return err
		}
		cs.Status = SessionStarted
		return nil
	})
	if errors.Is(err, ErrSessionExpired) {
		return out, err
	}
	if err != nil {
		return nil, fmt.Errorf("start connect session: %w", err)
	}
	return out, nil
}

// lockSession reads and locks the session whose column matches hash,
// refusing one that has expired.
func lockSession(ctx context.Context, tx Tx, column string, hash []byte) (*ConnectSession, error) {
	cs, err := scanSession(tx.QueryRow(ctx, "SELECT "+sessionColumns+" FROM connect_sessions WHERE "+column+" = $1 FOR UPDATE", hash))
	if err != nil {
		return nil, err
	}
	if !time.Now().Before(cs.ExpiresAt) {
		return cs, ErrSessionExpired
	}
	return cs, nil
}

// ClaimConnectSession takes the started session of an OAuth state for its
// callback, once: it returns the session and its PKCE verifier, which it
// erases. A replayed callback gets ErrSessionUsed, a late one
// ErrSessionExpired (with the session, to send its user back).
func (s *Store) ClaimConnectSession(ctx context.Context, state string) (*ConnectSession, string, error) {
	if s.keys == nil {
		return nil, "", errors.New("claim connect session: no encryption key configured")
	}
	var out *ConnectSession
	var verifier string
	err := s.InTx(ctx, func(tx Tx) error {
		cs, err := lockSession(ctx, tx, "state_hash", secretHash(state))
		out = cs
		if err != nil {
			return err
		}
		var keyID *string
		var enc []byte
		var finished *time.Time
		if err := tx.QueryRow(ctx, "SELECT verifier_key_id, verifier_enc, finished_at FROM connect_sessions WHERE id = $1",
			cs.ID).Scan(&keyID, &enc, &finished); err != nil {
			return err
		}
		if cs.Status != SessionStarted || finished != nil || keyID == nil {
			return ErrSessionUsed
		}
		if verifier, err = s.keys.open(*keyID, enc, verifierAAD(cs.ID)); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE connect_sessions SET finished_at = now(), verifier_key_id = NULL, verifier_enc = NULL WHERE id = $1", cs.ID)
		return err
	})
	if errors.Is(err, ErrSessionExpired) {
		return out, "", err
	}
	if err != nil {
		return nil, "", fmt.Errorf("claim connect session: %w", err)
	}
	return out, verifier, nil
}

// CompleteConnectSession stores the session's connection with its tokens
// (as SaveConnection does), marks the session completed, and lets the key
// that created the session use the connection: all in one transaction.
func (s *Store) CompleteConnectSession(ctx context.Context, sessionID int64, c *Connection, tok Tokens) (*Connection, error) {
	if err := checkConnection(s, c); err != nil {
		return nil, fmt.Errorf("complete connect session %d: %w", sessionID, err)
	}
	var out *Connection
	err := s.InTx(ctx, func(tx Tx) error {
		var err error
		if out, err = s.saveConnectionTx(ctx, tx, c, tok); err != nil {
			return err
		}
		var keyID *int64
		if err := tx.QueryRow(ctx, `UPDATE connect_sessions SET status = 'completed', connection_id = $2, finished_at = coalesce(finished_at, now())
			WHERE id = $1 RETURNING api_key_id`, sessionID, out.ID).Scan(&keyID); err != nil {
			return err
		}
		if keyID != nil {
			return grantConnectionTx(ctx, tx, *keyID, out.ID)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("complete connect session %d: %w", sessionID, err)
	}
	return out, nil
}

// FailConnectSession records why a session failed; it cannot be used again.
func (s *Store) FailConnectSession(ctx context.Context, sessionID int64, code string) error {
	_, err := s.pool.Exec(ctx, `UPDATE connect_sessions SET status = 'failed', error_code = $2, finished_at = coalesce(finished_at, now()),
		verifier_key_id = NULL, verifier_enc = NULL WHERE id = $1 AND status <> 'completed'`, sessionID, code)
	if err != nil {
		return fmt.Errorf("fail connect session %d: %w", sessionID, err)
	}
	return nil
}

// PruneConnectSessions deletes the sessions that expired before before,
// whatever their outcome; it returns how many.
func (s *Store) PruneConnectSessions(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, "DELETE FROM connect_sessions WHERE expires_at < $1", before)
	if err != nil {
		return 0, fmt.Errorf("prune connect sessions: %w", err)
	}
	return tag.RowsAffected(), nil
}
