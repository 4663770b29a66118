package store_test

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/pglocal"
	"github.com/graphsync/graphsync/internal/pgtest"
	"github.com/graphsync/graphsync/store"
)

func newConnection(t *testing.T, s *store.Store, user string, tok store.Tokens) *store.Connection {
	t.Helper()
	c, err := s.SaveConnection(context.Background(), &store.Connection{
		Kind: store.KindDelegated, TenantID: "tenant-1", UserID: user, UserPrincipalName: user + "@contoso.test",
		Scopes: []string{"Mail.Read", "offline_access"}, Resources: []*graphsync.Resource{graphsync.Mail},
	}, tok)
	if err != nil {
		t.Fatalf("save connection: %v", err)
	}
	return c
}

func TestConnectionRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.Store(t)
	exp := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	c := newConnection(t, s, "u1", store.Tokens{AccessToken: "at-secret-1", RefreshToken: "rt-secret-1", Expiry: exp})

	got, err := s.Connection(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.UserPrincipalName != "u1@contoso.test" || got.Status != store.StatusActive || got.Kind != store.KindDelegated {
		t.Fatalf("connection = %+v", got)
	}
	if got.AccessTokenExpiresAt == nil || !got.AccessTokenExpiresAt.Equal(exp) {
		t.Fatalf("expiry = %v, want %v", got.AccessTokenExpiresAt, exp)
	}
	tok, err := s.Tokens(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != "at-secret-1" || tok.RefreshToken != "rt-secret-1" {
		t.Fatalf("tokens did not round-trip")
	}
	if strings.Contains(tok.String(), "secret") {
		t.Fatalf("Tokens.String leaks: %s", tok)
	}

	// Connecting again updates in place and reactivates.
	if err := s.SetStatus(ctx, c.ID, store.StatusNeedsReauth, "AADSTS700082", "refresh token expired"); err != nil {
		t.Fatal(err)
	}
	again := newConnection(t, s, "u1", store.Tokens{AccessToken: "at-secret-2", RefreshToken: "rt-secret-2"})
	if again.ID != c.ID || again.Status != store.StatusActive || again.LastError != "" {
		t.Fatalf("reconnect = %+v, want same id %d, active, no error", again, c.ID)
	}

	// A refresh with no new refresh token keeps the old one.
	err = s.InTx(ctx, func(tx store.Tx) error {
		return s.SaveTokensTx(ctx, tx, c.ID, store.Tokens{AccessToken: "at-secret-3", Expiry: exp})
	})
	if err != nil {
		t.Fatal(err)
	}
	tok, _ = s.Tokens(ctx, c.ID)
	if tok.AccessToken != "at-secret-3" || tok.RefreshToken != "rt-secret-2" {
		t.Fatalf("after refresh without rotation: access ok=%t refresh kept=%t", tok.AccessToken == "at-secret-3", tok.RefreshToken == "rt-secret-2")
	}

	if err := s.DeleteConnection(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Connection(ctx, c.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after delete: %v, want ErrNotFound", err)
	}
}

func TestTokensNotInPlaintextDump(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewMigrated(t)
	s := store.New(pgtest.Pool(t, url), pgtest.Keyring(t))
	secrets := []string{"access-PLAINTEXT-canary-7f3a", "refresh-PLAINTEXT-canary-91bc"}
	c := newConnection(t, s, "u1", store.Tokens{AccessToken: secrets[0], RefreshToken: secrets[1]})
	if _, err := s.Tokens(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	pgDump, err := pglocal.Bin("pg_dump")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(pgDump, "--data-only", "--inserts", url).CombinedOutput()
	if err != nil {
		t.Fatalf("pg_dump: %v: %s", err, out)
	}
	if !strings.Contains(string(out), "u1@contoso.test") {
		t.Fatal("pg_dump output does not contain the connection at all; the scan proves nothing")
	}
	for _, sec := range secrets {
		if strings.Contains(string(out), sec) {
			t.Errorf("pg_dump contains a token in plaintext")
		}
	}
}

func TestWrongKeyFailsClearly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewMigrated(t)
	pool := pgtest.Pool(t, url)
	s := store.New(pool, pgtest.Keyring(t))
	c := newConnection(t, s, "u1", store.Tokens{AccessToken: "a", RefreshToken: "r"})

	other := store.New(pool, pgtest.Keyring(t))
	_, err := other.Tokens(ctx, c.ID)
	if !errors.Is(err, store.ErrDecrypt) {
		t.Fatalf("wrong key: err = %v, want ErrDecrypt", err)
	}
	if !strings.Contains(err.Error(), "GRAPHSYNC_ENCRYPTION_KEY") {
		t.Fatalf("error %q does not say which setting to fix", err)
	}

	// A tampered ciphertext is refused, not decrypted to garbage.
	if _, err := pool.Exec(ctx, "UPDATE connections SET access_token_enc = set_byte(access_token_enc, 20, get_byte(access_token_enc, 20) # 1) WHERE id = $1", c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Tokens(ctx, c.ID); !errors.Is(err, store.ErrDecrypt) {
		t.Fatalf("tampered ciphertext: err = %v, want ErrDecrypt", err)
	}
}

func TestKeyRotation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t, pgtest.NewMigrated(t))
	oldKey, _ := store.GenerateKey()
	newKey, _ := store.GenerateKey()
	oldRing, _ := store.ParseKeyring(oldKey)
	s := store.New(pool, oldRing)
	var ids []int64
	for _, u := range []string{"u1", "u2", "u3"} {
		ids = append(ids, newConnection(t, s, u, store.Tokens{AccessToken: "at-" + u, RefreshToken: "rt-" + u}).ID)
	}

	both, err := store.ParseKeyring(newKey + "," + oldKey)
	if err != nil {
		t.Fatal(err)
	}
	rotated := store.New(pool, both)
	n, err := rotated.RotateKeys(ctx)
	if err != nil || n != len(ids) {
		t.Fatalf("rotate: n=%d err=%v, want %d rows", n, err, len(ids))
	}
	if n, _ := rotated.RotateKeys(ctx); n != 0 {
		t.Fatalf("second rotation changed %d rows, want 0", n)
	}
	var stale int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM connections WHERE token_key_id <> $1", both.PrimaryID()).Scan(&stale); err != nil || stale != 0 {
		t.Fatalf("%d rows still under the old key (err %v)", stale, err)
	}
	// Only the new key is needed now.
	newOnly, _ := store.ParseKeyring(newKey)
	for i, id := range ids {
		tok, err := store.New(pool, newOnly).Tokens(ctx, id)
		if err != nil {
			t.Fatalf("connection %d with new key only: %v", id, err)
		}
		want := []string{"u1", "u2", "u3"}[i]
		if tok.AccessToken != "at-"+want || tok.RefreshToken != "rt-"+want {
			t.Fatalf("connection %d tokens changed by rotation", id)
		}
	}
}

func TestParseKeyringErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ spec, want string }{
		{"", "empty"},
		{"not base64!!", "not base64"},
		{"c2hvcnQ=", "AES-256 needs 32"},
	} {
		_, err := store.ParseKeyring(tc.spec)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseKeyring(%q) = %v, want error containing %q", tc.spec, err, tc.want)
		}
	}
}
