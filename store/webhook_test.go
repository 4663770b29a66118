package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/pgtest"
	"github.com/graphsync/graphsync/store"
)

// A webhook endpoint's signing secret is stored sealed, opens with the
// key that sealed it, and moves to the new key with `keys rotate`.
func TestWebhookSecretSealedAndRotated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	oldKey, _ := store.GenerateKey()
	oldRing, err := store.ParseKeyring(oldKey)
	if err != nil {
		t.Fatal(err)
	}
	s := pgtest.Store(t).WithKeys(oldRing)
	const secret = "whsec_the-receivers-shared-secret"
	ep, err := s.AddWebhook(ctx, "https://hooks.example.com/in", store.ChangeFilter{Resources: []string{"mail"}}, secret, graphsync.Cursor{})
	if err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, "SELECT count(*) FROM webhook_endpoints WHERE position($1::bytea in secret_enc) > 0", []byte(secret)); n != 0 {
		t.Fatal("the secret is stored in plaintext")
	}
	if got, err := s.WebhookSecret(ctx, ep.ID); err != nil || got != secret {
		t.Fatalf("secret %q (%v)", got, err)
	}
	newKey, _ := store.GenerateKey()
	both, err := store.ParseKeyring(newKey + "," + oldKey)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.WithKeys(both).RotateKeys(ctx); err != nil || n != 1 {
		t.Fatalf("rotated %d (%v), want the endpoint's secret", n, err)
	}
	only, _ := store.ParseKeyring(newKey)
	if got, err := s.WithKeys(only).WebhookSecret(ctx, ep.ID); err != nil || got != secret {
		t.Fatalf("with the new key alone: %q (%v)", got, err)
	}
	if _, err := s.WebhookSecret(ctx, ep.ID); !errors.Is(err, store.ErrDecrypt) {
		t.Fatalf("with the old key alone after rotation: %v, want ErrDecrypt", err)
	}
}
