package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/graphsync/graphsync/internal/pgtest"
	"github.com/graphsync/graphsync/store"
)

// A worker started with --migrate=false on a database with pending
// migrations says so loudly and does no work (not ready) until they are
// applied, then starts by itself.
func TestWorkerWaitsForPendingMigrations(t *testing.T) {
	t.Parallel()
	key, err := store.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	addr := freeTCPAddr(t)
	env := map[string]string{
		"DATABASE_URL":             pgtest.NewDatabase(t),
		"GRAPHSYNC_ENCRYPTION_KEY": key,
		"GRAPHSYNC_CLIENT_ID":      "client-id",
		"GRAPHSYNC_CLIENT_SECRET":  "client-secret-value",
		"GRAPHSYNC_HTTP_ADDR":      addr,
	}
	logs := &syncBuffer{}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	m := &Main{Getenv: func(k string) string { return env[k] }, Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: logs}
	go func() { done <- m.Run(ctx, []string{"worker", "--migrate=false"}) }()
	t.Cleanup(func() {
		stop()
		select {
		case <-done:
		case <-time.After(45 * time.Second):
			t.Errorf("worker did not stop")
		}
	})
	readyz := func() int {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	waitUntil(t, 20*time.Second, "the worker to report pending migrations", func() bool {
		return strings.Contains(logs.String(), "pending migrations") && readyz() == http.StatusServiceUnavailable
	})
	wantContains(t, "worker log", logs.String(), "001_foundation", "graphsync migrate")
	time.Sleep(2 * time.Second)
	wantNotContains(t, "worker log before migrating", logs.String(), "worker started")

	code, out, errOut := runWith(t, env, "migrate")
	wantCode(t, code, 0, out, errOut)
	waitUntil(t, 20*time.Second, "the worker to start once migrated", func() bool {
		return strings.Contains(logs.String(), "worker started") && readyz() == http.StatusOK
	})
}
