package graph_test

import (
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graph"
	"github.com/graphsync/graphsync/internal/emutest"
)

// TestForwardHoldsTheSlotUntilClosed forwards requests to one mailbox
// without reading their answers: the mailbox's cap lets four out, the
// fifth waits until an answer's body is closed, and the mailbox never sees
// more than four at once.
func TestForwardHoldsTheSlotUntilClosed(t *testing.T) {
	t.Parallel()
	b := emutest.Setup(t, emulator.Config{Users: 1, MessagesPerUser: 5})
	tok := b.SignIn(t, mailScopes())
	c := newClient(t, b, graph.Config{})
	call := mailCall(tok, b.User.ID)
	ctx := emutest.Context(t)
	forward := func() (*http.Response, error) {
		return c.Forward(ctx, call, graph.Forwarded{Method: http.MethodGet, Link: "/v1.0/me/mailFolders", MaxWait: time.Second})
	}
	var open []*http.Response
	for range 4 {
		resp, err := forward()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("forward: %v %v", resp, err)
		}
		open = append(open, resp)
	}
	fifth := make(chan *http.Response)
	go func() {
		resp, err := forward()
		if err != nil {
			t.Error(err)
		}
		fifth <- resp
	}()
	select {
	case <-fifth:
		t.Fatal("a fifth request left while four answers were open")
	case <-time.After(300 * time.Millisecond):
	}
	if _, err := io.Copy(io.Discard, open[0].Body); err != nil {
		t.Fatal(err)
	}
	open[0].Body.Close()
	select {
	case resp := <-fifth:
		resp.Body.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("the fifth request did not leave after an answer was closed")
	}
	for _, r := range open[1:] {
		r.Body.Close()
	}
	if peak := b.Srv.Counters().PeakOutlook[emutest.ClientID+"|"+b.User.ID]; peak > 4 {
		t.Errorf("peak %d requests on the mailbox", peak)
	}
}

// TestForwardHonoursRetryAfter: a window longer than the request may wait
// is an error carrying it, and nothing is sent.
func TestForwardHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	b := emutest.Setup(t, emulator.Config{Users: 1, MessagesPerUser: 5})
	tok := b.SignIn(t, mailScopes())
	c := newClient(t, b, graph.Config{})
	call := mailCall(tok, b.User.ID)
	c.Block(mailbox(b.User.ID), time.Now().Add(10*time.Second))
	total := func() (n int64) {
		for _, byStatus := range b.Srv.Counters().Requests {
			for _, k := range byStatus {
				n += k
			}
		}
		return n
	}
	before := total()
	_, err := c.Forward(emutest.Context(t), call, graph.Forwarded{Method: http.MethodGet, Link: "/v1.0/me/mailFolders", MaxWait: time.Second})
	ra, throttled := graph.IsThrottled(err)
	if !throttled || ra < 9*time.Second {
		t.Fatalf("forward inside a window: %v", err)
	}
	var ge *graph.Error
	if !errors.As(err, &ge) {
		t.Fatalf("not a *graph.Error: %v", err)
	}
	if total() != before {
		t.Error("a request left inside the window")
	}
	// Off Graph's origin: refused.
	if _, err := c.Forward(emutest.Context(t), call, graph.Forwarded{Method: http.MethodGet, Link: "https://evil.example/v1.0/me"}); err == nil {
		t.Error("forwarded to another origin")
	}
}
