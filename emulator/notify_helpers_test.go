package emulator

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// receiver is a notification endpoint on 127.0.0.1: it answers validation
// requests by echoing the decoded token as text/plain and records every
// notification POST.
type receiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	// posts holds each notification POST's value array.
	posts       [][]map[string]any
	validations []*http.Request
	tokens      []string
	// status answers notification POSTs (default 202); delay holds them.
	status atomic.Int32
	delay  atomic.Int64
	// failFirst makes the first n notification POSTs answer 500.
	failFirst atomic.Int32
	// validation, when set, answers validation requests instead.
	validation func(w http.ResponseWriter, token string)
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	rc := &receiver{}
	rc.status.Store(http.StatusAccepted)
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) URL() string { return rc.srv.URL + "/hook" }

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Has("validationToken") {
		token := r.URL.Query().Get("validationToken")
		rc.mu.Lock()
		rc.validations = append(rc.validations, r)
		rc.tokens = append(rc.tokens, token)
		v := rc.validation
		rc.mu.Unlock()
		if v != nil {
			v(w, token)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, token)
		return
	}
	var body struct {
		Value []map[string]any `json:"value"`
	}
	b, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(b, &body)
	if d := time.Duration(rc.delay.Load()); d > 0 {
		time.Sleep(d)
	}
	if rc.failFirst.Add(-1) >= 0 {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	status := int(rc.status.Load())
	if status < 300 {
		rc.mu.Lock()
		rc.posts = append(rc.posts, body.Value)
		rc.mu.Unlock()
	}
	w.WriteHeader(status)
}

// notes flattens the notifications received so far.
func (rc *receiver) notes() []map[string]any {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []map[string]any
	for _, p := range rc.posts {
		out = append(out, p...)
	}
	return out
}

func (rc *receiver) postCount() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.posts)
}

// waitFor polls until cond holds, failing after 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	// Generous: the race detector on a loaded machine slows delivery
	// tenfold; a notification that never comes still fails the test.
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitNotes waits until n notifications matching keep arrived and returns
// all the matching ones.
func (rc *receiver) waitNotes(t *testing.T, n int, keep func(map[string]any) bool) []map[string]any {
	t.Helper()
	var got []map[string]any
	waitFor(t, "notifications", func() bool {
		got = got[:0]
		for _, m := range rc.notes() {
			if keep == nil || keep(m) {
				got = append(got, m)
			}
		}
		return len(got) >= n
	})
	return got
}

// call sends a Graph request with a JSON body and returns status and body.
func (b *bundle) call(t *testing.T, method, token, path string, body any, hdr ...string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequestWithContext(ctxT(t), method, b.srv.URL()+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// subscribe creates a subscription and returns the status and the decoded
// body (the subscription or the error).
func (b *bundle) subscribe(t *testing.T, token string, body map[string]any, hdr ...string) (int, map[string]any) {
	t.Helper()
	st, out := b.call(t, http.MethodPost, token, "/v1.0/subscriptions", body, hdr...)
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("decode %s: %v", out, err)
	}
	return st, m
}

// mustSubscribe creates a subscription that must succeed; it returns its id.
func (b *bundle) mustSubscribe(t *testing.T, token string, body map[string]any, hdr ...string) string {
	t.Helper()
	st, m := b.subscribe(t, token, body, hdr...)
	if st != http.StatusCreated {
		t.Fatalf("create subscription %v: %d %v", body, st, m)
	}
	return m["id"].(string)
}

func in(d time.Duration) string { return time.Now().Add(d).UTC().Format(time.RFC3339Nano) }

func errCode(m map[string]any) (string, string) {
	e, _ := m["error"].(map[string]any)
	code, _ := e["code"].(string)
	msg, _ := e["message"].(string)
	return code, msg
}

func sub(resource, changeType, url string) map[string]any {
	return map[string]any{"changeType": changeType, "notificationUrl": url, "resource": resource,
		"expirationDateTime": in(24 * time.Hour), "clientState": "secret-state"}
}

// fastNotify is a configuration that makes delivery waits short.
func fastNotify() Notifications {
	return Notifications{Scale: 0.0001, BatchWindow: 5 * time.Millisecond, DeliveryTimeout: 500 * time.Millisecond, RetryTimeout: 500 * time.Millisecond}
}
