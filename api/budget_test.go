package api_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/internal/verify"
	"github.com/graphsync/graphsync/jobs"
	"github.com/graphsync/graphsync/store"
)

// TestProxySharesTheSyncBudget hammers a mailbox through the proxy while
// the sync reads it, against Outlook's limits (4 requests in flight per
// mailbox, and a request budget per window small enough to be exceeded):
// the mailbox never sees more than 4 requests from graphsync at once, no
// request leaves before a Retry-After elapsed, and the sync still ends
// equal to the ground truth.
func TestProxySharesTheSyncBudget(t *testing.T) {
	t.Parallel()
	b := setup(t, options{work: true, emu: emulator.Config{Users: 1, MessagesPerUser: 300,
		Latency:  emulator.Latency{Min: 2 * time.Millisecond, Max: 15 * time.Millisecond},
		Throttle: emulator.Throttle{Outlook: emulator.OutlookLimits{Requests: 15, Window: time.Second, Concurrent: 4}}}})
	conn := b.conns[0]
	key, _ := b.key(t, store.NewAPIKey{Connections: []int64{conn.ID}, Scopes: []string{store.ScopeProxy}})
	b.em.ResetCounters()
	ctx := context.Background()

	if _, err := b.w.Jobs.EnqueueSync(ctx, b.client, conn.ID, nil, jobs.Incremental); err != nil {
		t.Fatal(err)
	}
	paths := []string{"v1.0/me/mailFolders", "v1.0/users/" + conn.UserID + "/mailFolders/inbox/messages?$top=5",
		"v1.0/users/" + conn.UserPrincipalName + "/mailFolders"}
	var ok, throttled atomic.Int64
	// The sync must be under way while the app hammers the mailbox.
	var overlapped atomic.Bool
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			res, err := b.client.JobList(ctx, river.NewJobListParams().Kinds(jobs.SyncArgs{}.Kind()).States(rivertype.JobStateRunning))
			if err == nil && len(res.Jobs) > 0 {
				overlapped.Store(true)
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	for g := range 10 {
		wg.Go(func() {
			for i := range 20 {
				status, body, h := b.call(t, "GET", fmt.Sprintf("/v1/connections/%d/graph/%s", conn.ID, paths[(g+i)%len(paths)]), key, nil)
				switch {
				case status == http.StatusOK:
					ok.Add(1)
				case status == http.StatusTooManyRequests && h.Get("Retry-After") != "":
					throttled.Add(1)
				default:
					select {
					case errs <- fmt.Sprintf("%d %s", status, body):
					default:
					}
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	close(errs)
	if !overlapped.Load() {
		t.Error("the sync never ran while the proxy was used")
	}
	for e := range errs {
		t.Error("proxied request:", e)
	}
	waitIdle(t, b.client, 2*time.Minute)

	c := b.em.Counters()
	if peak := c.PeakOutlook[testClientID+"|"+conn.UserID]; peak > 4 || peak < 2 {
		t.Errorf("the mailbox saw %d requests at once from graphsync; want at most 4 (and some overlap to prove it)", peak)
	}
	if c.EarlySent != 0 {
		t.Errorf("%d requests sent inside a Retry-After window: %v", c.EarlySent, c.EarlySentByKey)
	}
	if c.Throttled == 0 {
		t.Error("Graph never throttled: the test proves nothing about Retry-After")
	}
	if ok.Load() == 0 {
		t.Error("no proxied request succeeded")
	}
	t.Logf("proxied: %d ok, %d answered 429; Graph throttled %d; peak %d", ok.Load(), throttled.Load(), c.Throttled, c.PeakOutlook[testClientID+"|"+conn.UserID])
	results, err := verify.Resource(ctx, b.store.Pool(), b.em.URL(), conn.ID, conn.UserID, "mail")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if len(r.Diffs) > 0 || r.Truth == 0 {
			t.Errorf("%s differs from the ground truth (%d truth, %d rows): %v", r.Table, r.Truth, r.Rows, r.Diffs)
		}
	}
}

// waitIdle waits until no sync job is left to run, and fails on a
// discarded one.
func waitIdle(t *testing.T, client *river.Client[store.Tx], timeout time.Duration) {
	t.Helper()
	ctx := context.Background()
	list := func(states ...rivertype.JobState) []*rivertype.JobRow {
		res, err := client.JobList(ctx, river.NewJobListParams().Kinds(jobs.SyncArgs{}.Kind()).States(states...).First(1000))
		if err != nil {
			t.Fatal(err)
		}
		return res.Jobs
	}
	deadline := time.Now().Add(timeout)
	for {
		if len(list(rivertype.JobStateAvailable, rivertype.JobStateRunning, rivertype.JobStateRetryable,
			rivertype.JobStateScheduled, rivertype.JobStatePending)) == 0 {
			if d := list(rivertype.JobStateDiscarded); len(d) > 0 {
				t.Fatalf("%d sync jobs discarded: %v", len(d), d[0].Errors)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("syncs still active after %s", timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
