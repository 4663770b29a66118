package main

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/store"
)

// metricValue reads one sample of the worker's /metrics ("name" or
// `name{label="value"}`), failing when it is absent.
func (w *workerBundle) metricValue(t *testing.T, sample string) float64 {
	t.Helper()
	_, body := httpGet(t, "http://"+w.addr+"/metrics", "")
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("/metrics has no sample %s", sample)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// A connection whose tenant the identity platform does not know (AADSTS90002)
// is that tenant's problem: the connection waits for the tenant's
// administrator with a plain reason, the others keep syncing, and the
// app-wide credentials alarm stays quiet.
func TestUnknownTenantMarksItsConnectionNotTheApp(t *testing.T) {
	t.Parallel()
	w := startWorker(t, emulator.Config{Seed: 5, Users: 1, MessagesPerUser: 10}, nil)
	if code, out, errOut := w.run("sync", "--wait"); code != 0 {
		t.Fatalf("first sync: exit %d\n%s\n%s", code, out, errOut)
	}

	refusedBefore := w.metricValue(t, `graphsync_token_refreshes_total{outcome="invalid_client"}`)
	file := writeFile(t, "gone.jsonl", `{"tenant_id":"gone-tenant.example","user_id":"u-1","user_principal_name":"ada@gone-tenant.example","refresh_token":"rt-of-a-gone-tenant","scopes":["Mail.Read","offline_access"],"resources":["mail"]}`+"\n")
	code, out, errOut := w.run("connections", "import", file)
	wantCode(t, code, 0, out, errOut)
	var gone int64
	if err := w.st.Pool().QueryRow(context.Background(), `SELECT id FROM connections WHERE tenant_id = 'gone-tenant.example'`).Scan(&gone); err != nil {
		t.Fatal(err)
	}
	// Its first sync refreshes its token; the identity platform answers
	// 90002.
	code, out, errOut = w.run("sync", "--connection", fmt.Sprint(gone))
	wantCode(t, code, 0, out, errOut)
	waitUntil(t, 60*time.Second, "the unknown tenant's connection to be marked", func() bool {
		cn, err := w.st.Connection(context.Background(), gone)
		if err != nil {
			t.Fatal(err)
		}
		return cn.Status != store.StatusActive
	})
	cn, err := w.st.Connection(context.Background(), gone)
	if err != nil {
		t.Fatal(err)
	}
	if cn.Status != store.StatusNeedsAdmin || cn.LastErrorCode != "AADSTS90002" || !strings.Contains(cn.LastError, "tenant") ||
		!strings.Contains(cn.LastError, "not found") {
		t.Fatalf("connection of the unknown tenant: status %q code %q reason %q; want needs_admin, AADSTS90002, tenant not found",
			cn.Status, cn.LastErrorCode, cn.LastError)
	}
	code, out, errOut = w.run("connections", "list")
	wantCode(t, code, 0, out, errOut)
	wantContains(t, "connections list", out, "needs_admin", "tenant gone-tenant.example: the tenant was not found")

	if v := w.metricValue(t, "graphsync_app_credentials_ok"); v != 1 {
		t.Errorf("graphsync_app_credentials_ok = %v after one tenant's error, want 1", v)
	}
	if v := w.metricValue(t, `graphsync_token_refreshes_total{outcome="invalid_client"}`); v != refusedBefore {
		t.Errorf("invalid_client refreshes went from %v to %v after one tenant's error, want no change", refusedBefore, v)
	}
	if v := w.metricValue(t, `graphsync_token_refreshes_total{outcome="needs_admin"}`); v < 1 {
		t.Errorf("needs_admin refreshes = %v, want at least 1", v)
	}
	// The database gauges are cached for a few seconds.
	waitUntil(t, 15*time.Second, `graphsync_connections{status="needs_admin"} to be 1`, func() bool {
		return w.metricValue(t, `graphsync_connections{status="needs_admin"}`) == 1
	})
	for _, c := range w.conns {
		got, err := w.st.Connection(context.Background(), c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != store.StatusActive {
			t.Errorf("connection %d of the known tenant: status %s, want active", c.ID, got.Status)
		}
	}
	// The others keep syncing.
	w.em.Mutate(10)
	code, out, errOut = w.run("sync", "--wait", "--connection", fmt.Sprint(w.conns[0].ID))
	wantCode(t, code, 0, out, errOut)
}

// waitUntil polls cond every 100 ms until it holds, failing after timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
