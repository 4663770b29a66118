package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/pgtest"
)

// logLines decodes the worker's JSON log lines.
func (w *workerBundle) logLines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(w.logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		out = append(out, rec)
	}
	return out
}

// A short database outage neither ends `sync --wait` (it retries and goes
// on) nor floods the worker's log: River's repeated errors are logged a few
// times, not twice a second. The worker's "sync complete" lines carry the
// counts and the last Graph request-id, and durations in milliseconds.
func TestSyncWaitRidesOutDatabaseOutage(t *testing.T) {
	t.Parallel()
	w := startWorkerWith(t, emulator.Config{Seed: 11, Users: 1, MessagesPerUser: 20}, nil, []*graphsync.Resource{graphsync.Mail})
	code, out, errOut := w.run("sync", "--wait")
	wantCode(t, code, 0, out, errOut)

	// A Retry-After window on the mailbox holds the next pass (its job
	// snoozes) through the outage, so no job is running when it starts.
	ctx := context.Background()
	conn := w.conns[0]
	scope := graphsync.ScopeOf(graphsync.Mail.Service(), conn.TenantID, conn.UserID)
	if err := w.st.SetThrottle(ctx, scope, time.Now().Add(10*time.Second), "test"); err != nil {
		t.Fatal(err)
	}
	w.em.Mutate(10)
	var wg sync.WaitGroup
	var syncOut, syncErr string
	var syncCode int
	wg.Go(func() { syncCode, syncOut, syncErr = w.run("sync", "--wait") })
	time.Sleep(2 * time.Second)
	before := len(w.logLines(t))
	pgtest.Outage(t, w.url, 6*time.Second)
	during := w.logLines(t)[before:]
	wg.Wait()
	wantCode(t, syncCode, 0, syncOut, syncErr)
	wantContains(t, "sync --wait through an outage", syncOut, "the database does not answer; retrying", "the database answers again", "done")

	perMessage := map[string]int{}
	for _, rec := range during {
		if rec["component"] == "river" && (rec["level"] == "ERROR" || rec["level"] == "WARN") {
			perMessage[fmt.Sprint(rec["msg"])]++
		}
	}
	if len(perMessage) == 0 {
		t.Fatalf("River logged nothing during a 6 s outage; the check proves nothing:\n%v", during)
	}
	for msg, n := range perMessage {
		if n > 2 {
			t.Errorf("River logged %q %d times during a 6 s outage", msg, n)
		}
	}

	var complete map[string]any
	for _, rec := range w.logLines(t) {
		for k := range rec {
			if k == "duration" || k == "retry_after" || k == "elapsed" {
				t.Errorf("log line with a duration in nanoseconds (%s): %v", k, rec)
			}
		}
		if rec["msg"] == "sync complete" {
			complete = rec
		}
	}
	if complete == nil {
		t.Fatal("no sync complete line")
	}
	for _, k := range []string{"duration_ms", "pages", "upserted", "deleted", "quarantined"} {
		if _, ok := complete[k].(float64); !ok {
			t.Errorf("sync complete line has no number %s: %v", k, complete)
		}
	}
	if id, _ := complete["request_id"].(string); id == "" || complete["connection_id"] == nil || complete["resource"] != "mail" {
		t.Errorf("sync complete line does not name its connection, resource and last request-id: %v", complete)
	}
}
