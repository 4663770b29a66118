package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/pgtest"
	"github.com/graphsync/graphsync/store"
)

// A connect session starts once, is claimed once with its verifier (which
// is stored sealed and erased), completes with its connection granted to
// the key that created it, and is pruned a while after it expired.
func TestConnectSessionLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.Store(t)
	_, key, err := s.CreateAPIKey(ctx, store.NewAPIKey{Name: "app", Scopes: []string{store.ScopeConnect}})
	if err != nil {
		t.Fatal(err)
	}
	secret, cs, err := s.CreateConnectSession(ctx, &store.ConnectSession{APIKeyID: &key.ID, Kind: store.KindDelegated,
		Resources: []*graphsync.Resource{graphsync.Mail}, Tenant: "common", ReturnURL: "https://app.example/back"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	const verifier = "pkce-verifier-that-must-stay-sealed-0123456789"
	if _, err := s.StartConnectSession(ctx, secret, "state-1", verifier); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, "SELECT count(*) FROM connect_sessions WHERE position($1::bytea in verifier_enc) > 0", []byte(verifier)); n != 0 {
		t.Fatal("the verifier is stored in plaintext")
	}
	if _, err := s.StartConnectSession(ctx, secret, "state-2", verifier); !errors.Is(err, store.ErrSessionUsed) {
		t.Fatalf("second start: %v, want ErrSessionUsed", err)
	}
	if _, _, err := s.ClaimConnectSession(ctx, "state-2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("claim with another state: %v, want ErrNotFound", err)
	}
	got, v, err := s.ClaimConnectSession(ctx, "state-1")
	if err != nil || v != verifier || got.ID != cs.ID {
		t.Fatalf("claim: %v %v", got, err)
	}
	if _, _, err := s.ClaimConnectSession(ctx, "state-1"); !errors.Is(err, store.ErrSessionUsed) {
		t.Fatalf("second claim: %v, want ErrSessionUsed", err)
	}
	if n := count(t, s, "SELECT count(*) FROM connect_sessions WHERE verifier_enc IS NOT NULL"); n != 0 {
		t.Fatal("the verifier outlives the claim")
	}
	conn, err := s.CompleteConnectSession(ctx, cs.ID, &store.Connection{Kind: store.KindDelegated, TenantID: "t", UserID: "u",
		Resources: []*graphsync.Resource{graphsync.Mail}}, store.Tokens{RefreshToken: "rt"})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := s.APIKeys(ctx)
	if err != nil || len(keys) != 1 || !keys[0].Covers(conn.ID) {
		t.Fatalf("the key does not cover the session's connection: %+v %v", keys, err)
	}

	if n, err := s.PruneConnectSessions(ctx, time.Now()); err != nil || n != 0 {
		t.Fatalf("pruned %d unexpired sessions (%v)", n, err)
	}
	if n, err := s.PruneConnectSessions(ctx, time.Now().Add(2*time.Minute)); err != nil || n != 1 {
		t.Fatalf("pruned %d expired sessions, want 1 (%v)", n, err)
	}
	if _, err := s.Connection(ctx, conn.ID); err != nil {
		t.Fatalf("pruning a session touched its connection: %v", err)
	}
}
