package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

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

// SharePointToken decrypts a connection's SharePoint token; it is empty
// when none was stored, or when the key that sealed it is gone (the caller
// redeems a new one).
func (s *Store) SharePointToken(ctx context.Context, id int64) (SharePointToken, error) {
	return s.sharePointToken(ctx, s.pool, id)
}

// SharePointTokenTx is SharePointToken within tx.
func (s *Store) SharePointTokenTx(ctx context.Context, tx Tx, id int64) (SharePointToken, error) {
	return s.sharePointToken(ctx, tx, id)
}

func (s *Store) sharePointToken(ctx context.Context, q querier, id int64) (SharePointToken, error) {
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
func (s *Store) SaveSharePointTokenTx(ctx context.Context, q Tx, id int64, t SharePointToken) error {
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
