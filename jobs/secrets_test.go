package jobs_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/graphsync/graphsync/changes"
	"github.com/graphsync/graphsync/connect"
	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/logtest"
	"github.com/graphsync/graphsync/internal/pglocal"
	"github.com/graphsync/graphsync/internal/secretscan"
	"github.com/graphsync/graphsync/internal/worker"
	"github.com/graphsync/graphsync/store"
)

// TestNoSecretLeaks connects, syncs with frequent refreshes, server errors,
// expired delta tokens, a revoked grant and a forged sign-in answer, all
// logged at debug level, then looks for every token, code and client secret
// the identity platform issued in a pg_dump of the database, the logs, the
// /metrics output and the error messages recorded: none may appear. Nor may
// a sync token (skip and delta tokens, OneDrive's in the link's path),
// anywhere but in the checkpoints that hold them.
func TestNoSecretLeaks(t *testing.T) {
	t.Parallel()
	logs := &logtest.Buffer{}
	logger := logs.Logger()
	b := setup(t, options{
		emu:       emulator.Config{Users: 3, MessagesPerUser: 60, AccessTokenLifetime: 30 * time.Second},
		worker:    func(c *worker.Config) { c.Logger = logger },
		resources: []string{"mail", "drive"},
	})

	// Connect again with the flow's logger on, and deliver a forged answer.
	flow, err := connect.New(connect.Config{Store: b.store, Auth: b.auth, Graph: b.graph, Resources: []*graphsync.Resource{graphsync.Mail},
		LoginHint: b.em.Users()[0].UserPrincipalName, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := flow.Listen(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := connect.Follow(ctx, flow.Begin()); err != nil {
		t.Fatal(err)
	}
	if _, err := flow.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	flow.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/callback?state=forged&code=forged-code", nil))
	errorsSeen := []string{rec.Body.String()}

	// A webhook endpoint that refuses some deliveries: its signing secret
	// must stay out of everything too.
	hook := newReceiver(t)
	hook.secret, hook.fail = changes.NewSecret(), 2
	if _, err := b.store.AddWebhook(ctx, hook.url(), store.ChangeFilter{}, hook.secret, graphsync.Cursor{}); err != nil {
		t.Fatal(err)
	}
	go b.svc.KickWebhooks(ctx, b.client)

	b.em.SetFaults(emulator.Faults{Status503: 0.05, RetryAfter: 1})
	b.em.RevokeGrant(b.em.Users()[2].ID)
	b.syncNow(t, 2*time.Minute)
	b.em.SetFaults(emulator.Faults{})
	b.em.Mutate(40)
	// Expired tokens put the links that carried them into errors.
	b.em.SetFaults(emulator.Faults{DeltaExpired: 0.3})
	b.syncNow(t, 2*time.Minute)
	b.em.SetFaults(emulator.Faults{})
	tokens := syncTokens(b.storedLinks(t))
	if !slices.ContainsFunc(b.storedLinks(t), func(l string) bool { return strings.Contains(l, "(token=") }) {
		t.Fatal("no OneDrive delta link stored; the scan for path tokens would prove nothing")
	}
	if n := b.count(t, "SELECT count(*) FROM sync_state WHERE resyncs > 0"); n == 0 {
		t.Fatal("no delta token expired; the scan of their errors would prove nothing")
	}

	for deadline := time.Now().Add(30 * time.Second); len(hook.received(t)) == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the webhook endpoint received nothing; its secret's scan would prove little")
		}
	}

	// Every error message the worker recorded.
	rows, err := b.store.Pool().Query(context.Background(), `SELECT coalesce(last_error, '') FROM connections
		UNION ALL SELECT coalesce(last_error, '') FROM sync_state
		UNION ALL SELECT coalesce(errors::text, '') FROM river_job
		UNION ALL SELECT coalesce(last_error, '') FROM webhook_endpoints`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		errorsSeen = append(errorsSeen, s)
	}
	rows.Close()
	if n := b.count(t, "SELECT count(*) FROM connections WHERE status = 'needs_reauth' AND last_error <> ''"); n != 1 {
		t.Fatalf("%d connections need re-consent with a reason, want the revoked one", n)
	}

	pgDump, err := pglocal.Bin("pg_dump")
	if err != nil {
		t.Fatal(err)
	}
	dump, err := exec.Command(pgDump, "--no-owner", "--dbname", b.store.Pool().Config().ConnString()).Output()
	if err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	if !bytes.Contains(dump, []byte("refresh_token_enc")) || !bytes.Contains(dump, []byte("COPY public.mail_messages")) {
		t.Fatal("pg_dump output lacks the connections and messages; the scan would prove nothing")
	}
	metrics := httptest.NewRecorder()
	promhttp.Handler().ServeHTTP(metrics, httptest.NewRequest(http.MethodGet, "/metrics", nil))

	secrets := append(b.em.IssuedSecrets(), hook.secret)
	if len(secrets) < 3*len(b.em.Users()) {
		t.Fatalf("only %d secrets issued; the scan would prove little", len(secrets))
	}
	if !bytes.Contains(logs.Bytes(), []byte("graph request")) {
		t.Fatal("no debug log of Graph requests was captured")
	}
	var found []secretscan.Finding
	found = append(found, secretscan.Scan("pg_dump", dump, secrets)...)
	found = append(found, secretscan.Scan("logs", logs.Bytes(), secrets)...)
	found = append(found, secretscan.Scan("/metrics", metrics.Body.Bytes(), secrets)...)
	found = append(found, secretscan.Scan("error messages", []byte(strings.Join(errorsSeen, "\n")), secrets)...)
	// Sync tokens: by the form of a link that carries one, and by value.
	found = append(found, secretscan.Links("logs", logs.Bytes())...)
	found = append(found, secretscan.Links("/metrics", metrics.Body.Bytes())...)
	found = append(found, secretscan.Links("error messages", []byte(strings.Join(errorsSeen, "\n")))...)
	found = append(found, secretscan.Scan("logs (sync tokens)", logs.Bytes(), tokens)...)
	found = append(found, secretscan.Scan("error messages (sync tokens)", []byte(strings.Join(errorsSeen, "\n")), tokens)...)
	for _, f := range found {
		t.Error(f)
	}
	t.Logf("scanned %d secrets and %d sync tokens in %d bytes of dump, %d of logs, %d of metrics, %d error messages",
		len(secrets), len(tokens), len(dump), len(logs.Bytes()), metrics.Body.Len(), len(errorsSeen))
}

// syncTokens are the skip and delta tokens the links carry, in the query
// or, for OneDrive, in the path: delta(token='...').
func syncTokens(links []string) []string {
	var out []string
	for _, l := range links {
		if i := strings.Index(l, "(token='"); i >= 0 {
			if tok, _, ok := strings.Cut(l[i+len("(token='"):], "'"); ok {
				out = append(out, tok)
			}
		}
		if u, err := url.Parse(l); err == nil {
			for _, k := range []string{"$skiptoken", "$deltatoken", "token"} {
				if v := u.Query().Get(k); v != "" {
					out = append(out, v)
				}
			}
		}
	}
	return out
}

// TestKeyRotationUnderLoad rotates the encryption key while workers sync and
// refresh tokens: no job fails, and afterwards every token opens with the
// new key alone.
func TestKeyRotationUnderLoad(t *testing.T) {
	t.Parallel()
	oldKey, _ := store.GenerateKey()
	newKey, _ := store.GenerateKey()
	// Connected under the old key; the workers already run with the new key
	// first and the old one second, as the rotation procedure says.
	both := keyring(t, newKey+","+oldKey)
	b := setup(t, options{
		keys:   keyring(t, oldKey),
		emu:    emulator.Config{Users: 4, MessagesPerUser: 150, AccessTokenLifetime: 30 * time.Second},
		worker: func(c *worker.Config) { c.Store = c.Store.WithKeys(both) },
	})
	ctx := context.Background()
	start := time.Now()
	rotator := store.New(b.store.Pool(), both)

	rotated := 0
	for pass := 0; pass < 2; pass++ {
		if _, err := b.svc.EnqueueSync(ctx, b.client, 0, nil); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 20; i++ {
			n, err := rotator.RotateKeys(ctx)
			if err != nil {
				t.Fatalf("rotate during sync: %v", err)
			}
			rotated += n
			time.Sleep(25 * time.Millisecond)
		}
		b.waitIdle(t, 2*time.Minute)
		if pass == 0 {
			b.em.Mutate(50)
		}
	}

	var failed int
	var lastErr *string
	if err := b.store.Pool().QueryRow(ctx, `SELECT count(*), max(errors::text) FROM river_job
		WHERE state IN ('retryable', 'discarded') OR coalesce(array_length(errors, 1), 0) > 0`).Scan(&failed, &lastErr); err != nil {
		t.Fatal(err)
	}
	if failed > 0 {
		t.Fatalf("%d jobs failed during the rotation: %s", failed, *lastErr)
	}
	refreshed := b.count(t, "SELECT count(*) FROM connections WHERE token_refreshed_at > $1", start)
	if refreshed == 0 {
		t.Fatal("no token was refreshed during the rotation; the test proves nothing")
	}
	if n := b.count(t, "SELECT count(*) FROM connections WHERE token_key_id IS DISTINCT FROM $1", both.PrimaryID()); n != 0 {
		t.Fatalf("%d connections still sealed with the old key", n)
	}
	newOnly := store.New(b.store.Pool(), keyring(t, newKey))
	for _, c := range b.conns {
		tok, err := newOnly.Tokens(ctx, c.ID)
		if err != nil || tok.AccessToken == "" || tok.RefreshToken == "" {
			t.Fatalf("connection %d with the new key alone: %v", c.ID, err)
		}
	}
	b.assertMailMatchesTruth(t)
	t.Logf("rotated %d connections while the tokens of %d were refreshed", rotated, refreshed)
}
