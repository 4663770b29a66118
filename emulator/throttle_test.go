package emulator

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"
)

type result struct {
	status     int
	retryAfter string
	code       string
}

func (b *bundle) burst(t *testing.T, tok, path string, n int) []result {
	t.Helper()
	out := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(ctxT(t), http.MethodGet, b.srv.URL()+path, nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := b.client.Do(req)
			if err != nil {
				t.Errorf("GET: %v", err)
				return
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			var e struct {
				Error struct{ Code string } `json:"error"`
			}
			_ = json.Unmarshal(body, &e)
			out[i] = result{resp.StatusCode, resp.Header.Get("Retry-After"), e.Error.Code}
		}()
	}
	wg.Wait()
	return out
}

// A burst over the Outlook limit gets 429 with an integer Retry-After; a
// client that waits that long before retrying gets no further 429, and one
// that does not is counted.
// https://learn.microsoft.com/en-us/graph/throttling
// https://learn.microsoft.com/en-us/graph/throttling-limits#outlook-service-limits
func TestOutlookThrottling(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 9, Users: 1, MessagesPerUser: 5,
		Throttle: Throttle{Outlook: OutlookLimits{Requests: 10, Window: 2 * time.Second}}})
	tok := b.appToken(t)
	path := "/v1.0/users/" + b.srv.Users()[0].ID + "/mailFolders/delta"
	res := b.burst(t, tok, path, 20)
	wait := 0
	failed := 0
	for _, r := range res {
		switch r.status {
		case 200:
		case 429:
			failed++
			n, err := strconv.Atoi(r.retryAfter)
			if err != nil || n < 1 || r.code != "TooManyRequests" {
				t.Errorf("429 with Retry-After %q code %q", r.retryAfter, r.code)
			}
			wait = max(wait, n)
		default:
			t.Errorf("unexpected status %d", r.status)
		}
	}
	if failed != 10 {
		t.Fatalf("%d of 20 throttled, want 10", failed)
	}
	// Requests of the burst that arrived after the first 429 count as early.
	earlyBefore := b.srv.Counters().EarlyRetries
	time.Sleep(time.Duration(wait) * time.Second)
	for _, r := range b.burst(t, tok, path, failed) {
		if r.status != 200 {
			t.Errorf("retry after Retry-After got %d", r.status)
		}
	}
	c := b.srv.Counters()
	if c.Throttled != 10 || c.EarlyRetries != earlyBefore {
		t.Errorf("counters: throttled %d early %d", c.Throttled, c.EarlyRetries)
	}
	// Ignoring Retry-After: throttled again and counted as early.
	b.burst(t, tok, path, 11)
	b.burst(t, tok, path, 2)
	if c := b.srv.Counters(); c.EarlyRetries == 0 || c.Throttled < 12 {
		t.Errorf("early retries not counted: %+v", c.EarlyRetries)
	}
}

// Outlook allows 4 concurrent requests per app per mailbox.
// https://learn.microsoft.com/en-us/graph/throttling-limits#outlook-service-limits
func TestOutlookConcurrency(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 9, Users: 1, MessagesPerUser: 5, Latency: Latency{Min: 300 * time.Millisecond, Max: 300 * time.Millisecond},
		Throttle: Throttle{Outlook: OutlookLimits{Concurrent: 4}}})
	tok := b.appToken(t)
	u := b.srv.Users()[0].ID
	res := b.burst(t, tok, "/v1.0/users/"+u+"/mailFolders/delta", 10)
	ok, throttled := 0, 0
	for _, r := range res {
		if r.status == 200 {
			ok++
		}
		if r.status == 429 && r.code == "ApplicationThrottled" && r.retryAfter != "" {
			throttled++
		}
	}
	if ok < 4 || throttled == 0 || ok+throttled != 10 {
		t.Errorf("ok %d throttled %d", ok, throttled)
	}
	if p := b.srv.Counters().PeakConcurrency[u]; p < 5 {
		t.Errorf("peak concurrency %d, want > 4", p)
	}
}

// Faults appear at about the configured rate and only on the chosen routes.
func TestFaults(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 10, Users: 1, MessagesPerUser: 30})
	tok := b.appToken(t)
	u := b.srv.Users()[0].ID
	b.srv.SetFaults(Faults{Routes: []string{"/mailFolders"}, Status500: 0.1, Status503: 0.1, RetryAfter: 0.5,
		Reset: 0.1, Truncated: 0.1, MalformedJSON: 0.1})
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	counts := map[string]int{}
	const n = 300
	for range n {
		req, _ := http.NewRequestWithContext(ctxT(t), http.MethodGet, b.srv.URL()+"/v1.0/users/"+u+"/mailFolders/delta", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := client.Do(req)
		if err != nil {
			counts["reset"]++
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case err != nil && errors.Is(err, io.ErrUnexpectedEOF):
			counts["truncated"]++
		case err != nil:
			t.Errorf("read: %v", err)
		case resp.StatusCode == 500:
			counts["500"]++
		case resp.StatusCode == 503:
			counts["503"]++
			if resp.Header.Get("Retry-After") != "" {
				counts["retry-after"]++
			}
		case resp.StatusCode == 200 && !json.Valid(body):
			counts["malformed"]++
		case resp.StatusCode == 200:
			counts["ok"]++
		}
	}
	for _, k := range []string{"reset", "truncated", "500", "503", "malformed"} {
		if counts[k] < 12 || counts[k] > 50 {
			t.Errorf("%s: %d of %d, want about 10%%", k, counts[k], n)
		}
	}
	if counts["retry-after"] == 0 || counts["retry-after"] == counts["503"] {
		t.Errorf("Retry-After on %d of %d 503s, want about half", counts["retry-after"], counts["503"])
	}
	// Other routes are untouched.
	for range 30 {
		if resp, _ := b.get(t, tok, "/v1.0/users/"+u); resp.StatusCode != 200 {
			t.Fatalf("fault outside the route filter: %d", resp.StatusCode)
		}
	}
}
