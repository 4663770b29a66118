package jobs_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/graphsync/graphsync/changes"
	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/worker"
	"github.com/graphsync/graphsync/store"
)

// receiver is a webhook endpoint on a loopback port: it verifies each
// delivery, answers as told, and can go down (connections refused) and
// come back on the same port.
type receiver struct {
	t      *testing.T
	secret string
	addr   string

	mu       sync.Mutex
	srv      *http.Server
	fail     int // answer 500 to this many more deliveries
	attempts []delivery
	accepted []delivery
}

type delivery struct {
	id    string
	batch changes.Batch
	body  []byte
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = l.Addr().String()
	r.serve(l)
	t.Cleanup(r.down)
	return r
}

func (r *receiver) url() string { return "http://" + r.addr + "/hook" }

func (r *receiver) serve(l net.Listener) {
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
	go srv.Serve(l)
}

// down closes the port: deliveries are refused.
func (r *receiver) down() {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// up listens again on the same port.
func (r *receiver) up() {
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err := net.Listen("tcp", r.addr)
		if err == nil {
			r.serve(l)
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("listen again on %s: %v", r.addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := changes.Verify(r.secret, req.Header, body, time.Now(), changes.DefaultTolerance); err != nil {
		r.t.Errorf("delivery refused: %v", err)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var b changes.Batch
	if err := json.Unmarshal(body, &b); err != nil {
		r.t.Errorf("delivery body: %v", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	d := delivery{id: req.Header.Get(changes.HeaderDelivery), batch: b, body: body}
	if d.id != b.DeliveryID {
		r.t.Errorf("delivery id header %q, body %q", d.id, b.DeliveryID)
	}
	r.attempts = append(r.attempts, d)
	if r.fail > 0 {
		r.fail--
		http.Error(w, "try later", http.StatusInternalServerError)
		return
	}
	r.accepted = append(r.accepted, d)
}

// received returns the changes accepted, a delivery accepted twice (at
// least once) counted once, and fails on a repeated delivery id whose
// body changed.
func (r *receiver) received(t *testing.T) []graphsync.Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string][]byte{}
	var out []graphsync.Change
	for _, d := range r.accepted {
		if body, dup := seen[d.id]; dup {
			var a, b changes.Batch
			_ = json.Unmarshal(body, &a)
			_ = json.Unmarshal(d.body, &b)
			if !slices.EqualFunc(a.Changes, b.Changes, func(x, y graphsync.Change) bool { return x.Seq == y.Seq }) {
				t.Fatalf("delivery %s sent twice with different changes", d.id)
			}
			continue
		}
		seen[d.id] = d.body
		out = append(out, d.batch.Changes...)
	}
	return out
}

// waitReceived waits until the receiver holds every change of the feed
// from cursor from, in the feed's order.
func waitReceived(t *testing.T, b *bundle, r *receiver, from graphsync.Cursor, timeout time.Duration) []graphsync.Change {
	t.Helper()
	want := readFeed(t, b.store, from)
	if len(want) == 0 {
		t.Fatal("the feed holds no changes; the test proves nothing")
	}
	deadline := time.Now().Add(timeout)
	for {
		got := r.received(t)
		if len(got) >= len(want) {
			if !slices.EqualFunc(got, want, func(x, y graphsync.Change) bool { return x.Seq == y.Seq }) {
				t.Fatalf("received %d changes, not the feed's %d in its order", len(got), len(want))
			}
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("received %d of the feed's %d changes after %s", len(got), len(want), timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// readFeed reads the whole feed from a cursor.
func readFeed(t *testing.T, st *store.Store, from graphsync.Cursor) []graphsync.Change {
	t.Helper()
	feed := changes.NewFeed(st)
	var out []graphsync.Change
	for {
		p, err := feed.Read(context.Background(), from, changes.Filter{}, 500)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p.Changes...)
		from = p.Next
		if !p.More {
			return out
		}
	}
}

// Webhook deliveries: signed batches in the feed's order, retried after
// 500s under the same delivery id, caught up after the receiver was down,
// and never held up by another endpoint that never answers.
func TestWebhookDelivery(t *testing.T) {
	t.Parallel()
	b := setup(t, options{
		emu: emulator.Config{Users: 1, MessagesPerUser: 120},
		worker: func(c *worker.Config) {
			c.Jobs.WebhookRetry, c.Jobs.WebhookRetryMax = 50*time.Millisecond, 400*time.Millisecond
			c.Jobs.Webhook.Timeout, c.Jobs.Webhook.Batch = 2*time.Second, 40
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	start, err := b.store.ChangesNow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := newReceiver(t)
	r.secret = changes.NewSecret()
	r.fail = 3
	ep, err := b.store.AddWebhook(ctx, r.url(), store.ChangeFilter{}, r.secret, start)
	if err != nil {
		t.Fatal(err)
	}
	// An endpoint that accepts connections and never answers.
	hang, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hang.Close() })
	if _, err := b.store.AddWebhook(ctx, "http://"+hang.Addr().String()+"/", store.ChangeFilter{}, changes.NewSecret(), start); err != nil {
		t.Fatal(err)
	}
	go b.svc.KickWebhooks(ctx, b.client)

	b.syncNow(t, time.Minute)
	got := waitReceived(t, b, r, start, time.Minute)
	r.mu.Lock()
	first := r.accepted[0].id
	rejected := slices.IndexFunc(r.attempts, func(d delivery) bool { return d.id != first })
	r.mu.Unlock()
	if rejected != 4 {
		t.Fatalf("the first batch was attempted %d times before another, want 3 refusals and the acceptance", rejected)
	}
	if got[0].Table != "mail_folders" && got[0].Table != "mail_messages" {
		t.Fatalf("first change %+v", got[0])
	}

	// Down for a while: deliveries fail, the endpoint is reported failing,
	// and once it is back it receives everything.
	r.down()
	b.em.Mutate(30)
	b.syncNow(t, time.Minute)
	deadline := time.Now().Add(30 * time.Second)
	for {
		e, err := b.store.Webhook(ctx, ep.ID)
		if err != nil {
			t.Fatal(err)
		}
		if e.Failures >= 2 && e.FailingSince != nil {
			if !strings.Contains(e.LastError, "refused") {
				t.Fatalf("last error %q does not say the connection was refused", e.LastError)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("endpoint not reported failing while down: %+v", e)
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.up()
	all := waitReceived(t, b, r, start, time.Minute)
	// The receiver answered; the endpoint's cursor moves right after.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		e, err := b.store.Webhook(ctx, ep.ID)
		if err != nil {
			t.Fatal(err)
		}
		p, err := b.store.PendingChanges(ctx, e.Cursor, e.Filter)
		if err != nil {
			t.Fatal(err)
		}
		if e.FailingSince == nil && e.Failures == 0 && e.Delivered == int64(len(all)) && p.Changes == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after catching up: %+v, %d pending", e, p.Changes)
		}
	}
	if len(all) <= len(got) {
		t.Fatalf("the mutations brought no change (%d, then %d)", len(got), len(all))
	}
}
