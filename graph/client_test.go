package graph_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graph"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/identity"
	"github.com/graphsync/graphsync/internal/emutest"
)

// pageAll follows nextLinks to the deltaLink and returns every entry.
func pageAll(t *testing.T, c *graph.Client, call graph.Call, link string) ([]json.RawMessage, string) {
	t.Helper()
	var items []json.RawMessage
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("delta round did not end")
		}
		p, err := c.GetPage(emutest.Context(t), call, link)
		if err != nil {
			t.Fatalf("page %d: %v", pages, err)
		}
		if p.RequestID == "" {
			t.Errorf("page %d has no request-id", pages)
		}
		items = append(items, p.Items...)
		if p.NextLink == "" {
			if p.DeltaLink == "" {
				t.Fatal("last page has neither nextLink nor deltaLink")
			}
			return items, p.DeltaLink
		}
		link = p.NextLink
	}
}

func ids(t *testing.T, raws []json.RawMessage, keep func(graphsync.Message) bool) []string {
	t.Helper()
	var out []string
	for _, r := range raws {
		if _, gone := graphsync.Removed(r); gone {
			continue
		}
		m, err := graphsync.DecodeMessage(r)
		if err != nil {
			t.Fatal(err)
		}
		if keep == nil || keep(m) {
			out = append(out, m.ID)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func mailCall(tok *identity.Token, mailbox string) graph.Call {
	return graph.Call{Token: tok.AccessToken, Mailbox: mailbox, Service: graphsync.Outlook, Resource: "mail"}
}

func folders(t *testing.T, c *graph.Client, call graph.Call) []graphsync.MailFolder {
	t.Helper()
	raws, _ := pageAll(t, c, call, "/me/mailFolders/delta")
	var out []graphsync.MailFolder
	for _, r := range raws {
		f, err := graphsync.DecodeMailFolder(r)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		t.Fatal("no mail folders")
	}
	return out
}

func TestMailDeltaPaging(t *testing.T) {
	t.Parallel()
	b := emutest.Setup(t, emulator.Config{MessagesPerUser: 80})
	tok := b.SignIn(t, mailScopes())
	c := newClient(t, b, graph.Config{MaxPageSize: 7})
	call := mailCall(tok, b.User.ID)

	truth, err := b.Srv.Truth(b.User.ID, "messages")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	deltaLinks := map[string]string{}
	for _, f := range folders(t, c, call) {
		items, delta := pageAll(t, c, call, "/me/mailFolders/"+f.ID+"/messages/delta")
		for _, raw := range items {
			if len(raw) == 0 {
				t.Fatal("empty item")
			}
		}
		got = append(got, ids(t, items, nil)...)
		deltaLinks[f.ID] = delta
	}
	slices.Sort(got)
	want := ids(t, truth, nil)
	if !slices.Equal(got, want) {
		t.Fatalf("delta returned %d messages, truth has %d", len(got), len(want))
	}

	// Changes since the deltaLinks are only what was mutated.
	b.Srv.Mutate(10)
	changed := 0
	for _, link := range deltaLinks {
		items, _ := pageAll(t, c, call, link)
		changed += len(items)
	}
	if changed == 0 || changed > len(want) {
		t.Fatalf("after 10 mutations the delta rounds returned %d entries", changed)
	}

	// Expired sync state surfaces as a reset, never as data.
	b.Srv.ExpireDeltaTokens()
	for _, link := range deltaLinks {
		_, err := c.GetPage(emutest.Context(t), call, link)
		if !graph.IsSyncReset(err) {
			t.Fatalf("expired deltaLink: %v, want a sync reset", err)
		}
		emutest.AssertNoSecrets(t, b.Srv, err.Error())
		break
	}
}

func TestExpiredAccessTokenIsUnauthorized(t *testing.T) {
	t.Parallel()
	b := emutest.Setup(t, emulator.Config{Users: 1, MessagesPerUser: 5, AccessTokenLifetime: 2 * time.Second})
	tok := b.SignIn(t, mailScopes())
	c := newClient(t, b, graph.Config{})
	call := mailCall(tok, b.User.ID)
	if _, err := c.GetPage(emutest.Context(t), call, "/me/mailFolders"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(tok.Expiry) + 1100*time.Millisecond)
	_, err := c.GetPage(emutest.Context(t), call, "/me/mailFolders")
	var ge *graph.Error
	if !graph.IsUnauthorized(err) || !errors.As(err, &ge) || ge.Status != http.StatusUnauthorized || ge.RequestID == "" {
		t.Fatalf("expired token: %v, want 401 with a request-id", err)
	}
	if graph.IsSyncReset(err) || graph.IsForbidden(err) {
		t.Fatal("401 matched other predicates")
	}
	emutest.AssertNoSecrets(t, b.Srv, err.Error())

	// The caller refreshes and retries.
	fresh, err := b.Auth.Refresh(emutest.Context(t), tok.RefreshToken, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetPage(emutest.Context(t), mailCall(fresh, b.User.ID), "/me/mailFolders"); err != nil {
		t.Fatal(err)
	}
}

func TestErrorPredicates(t *testing.T) {
	t.Parallel()
	b := emutest.Setup(t, emulator.Config{Users: 1, MessagesPerUser: 5})
	c := newClient(t, b, graph.Config{})
	mail := b.SignIn(t, mailScopes())
	noMail := b.SignIn(t, graphsync.DelegatedScopes(nil))

	tests := []struct {
		name  string
		tok   *identity.Token
		link  string
		check func(error) bool
	}{
		{"missing scope", noMail, "/me/mailFolders", graph.IsForbidden},
		{"unknown folder", mail, "/me/mailFolders/AAMkNoSuchFolder/messages/delta", graph.IsNotFound},
		{"bad token", &identity.Token{AccessToken: "not-a-token"}, "/me/mailFolders", graph.IsUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := c.GetPage(emutest.Context(t), mailCall(tt.tok, b.User.ID), tt.link)
			if !tt.check(err) {
				t.Fatalf("got %v", err)
			}
			var ge *graph.Error
			if !errors.As(err, &ge) || ge.Code == "" {
				t.Fatalf("error %v carries no Graph code", err)
			}
			if _, ok := graph.IsThrottled(err); ok {
				t.Fatalf("%v reported as throttling", err)
			}
		})
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	t.Parallel()
	b := emutest.Setup(t, emulator.Config{Users: 1, MessagesPerUser: 5})
	tok := b.SignIn(t, mailScopes())
	b.Srv.SetThrottle(emulator.Throttle{Outlook: emulator.OutlookLimits{Requests: 4, Window: time.Second}})
	b.Srv.ResetCounters()
	c := newClient(t, b, graph.Config{MailboxConcurrency: 1, MaxRetries: 5, MaxInlineWait: 3 * time.Second})
	call := mailCall(tok, b.User.ID)

	var wg sync.WaitGroup
	errs := make(chan error, 12)
	for range 12 {
		wg.Go(func() {
			_, err := c.GetPage(emutest.Context(t), call, "/me/mailFolders")
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	cnt := b.Srv.Counters()
	if cnt.Throttled == 0 {
		t.Fatal("the emulator never throttled: the test proves nothing")
	}
	if cnt.EarlyRetries != 0 {
		t.Fatalf("%d requests arrived inside a Retry-After window (%v)", cnt.EarlyRetries, cnt.EarlyRetriesByKey)
	}
}

func TestLongRetryAfterIsHandedToCaller(t *testing.T) {
	t.Parallel()
	b := emutest.Setup(t, emulator.Config{Users: 1, MessagesPerUser: 5})
	tok := b.SignIn(t, mailScopes())
	b.Srv.SetThrottle(emulator.Throttle{Outlook: emulator.OutlookLimits{Requests: 1, Window: time.Minute}})
	b.Srv.ResetCounters()
	c := newClient(t, b, graph.Config{MaxInlineWait: time.Second})
	call := mailCall(tok, b.User.ID)

	if _, err := c.GetPage(emutest.Context(t), call, "/me/mailFolders"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := c.GetPage(emutest.Context(t), call, "/me/mailFolders")
	ra, ok := graph.IsThrottled(err)
	if !ok || ra <= time.Second || time.Since(start) > 900*time.Millisecond {
		t.Fatalf("got %v after %v; want a throttling error over 1s, returned at once", err, time.Since(start))
	}
	until := c.BlockedUntil(mailbox(b.User.ID))
	if time.Until(until) < 30*time.Second {
		t.Fatalf("BlockedUntil = %v, want the window recorded", until)
	}
	sent := totalRequests(b.Srv)

	// Inside the window nothing leaves this process.
	_, err = c.GetPage(emutest.Context(t), call, "/me/mailFolders")
	if _, ok := graph.IsThrottled(err); !ok {
		t.Fatalf("call inside the window: %v, want throttled", err)
	}
	// A window seeded from elsewhere (another process's 429) holds too.
	other := newClient(t, b, graph.Config{})
	other.Block(mailbox(b.User.ID), until)
	if _, err := other.GetPage(emutest.Context(t), call, "/me/mailFolders"); err == nil {
		t.Fatal("a blocked mailbox was called")
	}
	if n := totalRequests(b.Srv); n != sent {
		t.Fatalf("%d requests left during the window", n-sent)
	}
	if e := b.Srv.Counters().EarlyRetries; e != 0 {
		t.Fatalf("%d early retries", e)
	}
}

func totalRequests(srv *emulator.Server) int64 {
	var n int64
	for _, byStatus := range srv.Counters().Requests {
		for _, v := range byStatus {
			n += v
		}
	}
	return n
}

// Every transient failure is retried: resets, truncated and malformed
// bodies, and 500, 502, 503 and 504 answers.
func TestRetriesInjectedFaults(t *testing.T) {
	t.Parallel()
	b := emutest.Setup(t, emulator.Config{Users: 1, MessagesPerUser: 80})
	tok := b.SignIn(t, mailScopes())
	c := newClient(t, b, graph.Config{MaxPageSize: 5, MaxRetries: 10})
	call := mailCall(tok, b.User.ID)
	fs := folders(t, c, call)

	b.Srv.SetFaults(emulator.Faults{
		Routes: []string{"/messages/delta"},
		Reset:  0.1, Truncated: 0.1, MalformedJSON: 0.1, Status500: 0.05, Status502: 0.05, Status503: 0.05, Status504: 0.05, RetryAfter: 0.5,
	})
	var got []string
	for _, f := range fs {
		items, _ := pageAll(t, c, call, "/me/mailFolders/"+f.ID+"/messages/delta")
		got = append(got, ids(t, items, nil)...)
	}
	b.Srv.SetFaults(emulator.Faults{})
	slices.Sort(got)
	truth, err := b.Srv.Truth(b.User.ID, "messages")
	if err != nil {
		t.Fatal(err)
	}
	if want := ids(t, truth, nil); !slices.Equal(got, want) {
		t.Fatalf("with faults: %d messages, want %d", len(got), len(want))
	}
	faults := b.Srv.Counters().Faults
	for _, kind := range []string{"reset", "truncated", "malformed", "500", "502", "503", "504"} {
		if faults[kind] == 0 {
			t.Fatalf("no %s fault was injected: %v", kind, faults)
		}
	}
	t.Logf("survived faults %v", faults)
}

func TestPartialUpdates(t *testing.T) {
	t.Parallel()
	b := emutest.Setup(t, emulator.Config{Users: 1, MessagesPerUser: 40, PartialUpdates: true})
	tok := b.SignIn(t, mailScopes())
	c := newClient(t, b, graph.Config{})
	call := mailCall(tok, b.User.ID)
	known := map[string]bool{}
	links := map[string]string{}
	for _, f := range folders(t, c, call) {
		items, delta := pageAll(t, c, call, "/me/mailFolders/"+f.ID+"/messages/delta")
		for _, raw := range items {
			if isPartial(raw) {
				t.Fatalf("initial round entry is partial: %s", raw)
			}
		}
		for _, id := range ids(t, items, nil) {
			known[id] = true
		}
		links[f.ID] = delta
	}
	b.Srv.Mutate(40)
	partial := 0
	for _, link := range links {
		// A folder the mutations deleted answers 404; its messages are gone.
		if _, err := c.GetPage(emutest.Context(t), call, link); graph.IsNotFound(err) {
			continue
		}
		items, _ := pageAll(t, c, call, link)
		for _, raw := range items {
			if !isPartial(raw) {
				continue
			}
			partial++
			m, err := graphsync.DecodeMessage(raw)
			if err != nil {
				t.Fatal(err)
			}
			if !known[m.ID] {
				t.Fatalf("partial entry for a message never seen in full: %s", raw)
			}
		}
	}
	if partial == 0 {
		t.Fatal("40 mutations produced no partial update: the test proves nothing")
	}
}

func TestMailboxConcurrencyCap(t *testing.T) {
	t.Parallel()
	b := emutest.Setup(t, emulator.Config{Users: 1, MessagesPerUser: 5, Latency: emulator.Latency{Min: 20 * time.Millisecond, Max: 30 * time.Millisecond}})
	tok := b.SignIn(t, mailScopes())
	b.Srv.ResetCounters()
	c := newClient(t, b, graph.Config{})
	call := mailCall(tok, b.User.ID)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if _, err := c.GetPage(emutest.Context(t), call, "/me/mailFolders"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	peak := b.Srv.Counters().PeakConcurrency[b.User.ID]
	if peak < 2 || peak > 4 {
		t.Fatalf("peak concurrency on the mailbox = %d, want 2..4", peak)
	}
}

func TestPreferHeadersCombine(t *testing.T) {
	t.Parallel()
	b := emutest.Setup(t, emulator.Config{Users: 1, MessagesPerUser: 30})
	tok := b.SignIn(t, mailScopes())
	c := newClient(t, b, graph.Config{MaxPageSize: 3})
	plain := mailCall(tok, b.User.ID)
	immutable := plain
	immutable.ImmutableIDs = true
	immutable.Headers = map[string]string{"prefer": `outlook.timezone="UTC"`, "Authorization": "Bearer ignored"}

	var plainIDs, immIDs []string
	for _, f := range folders(t, c, plain) {
		link := "/me/mailFolders/" + f.ID + "/messages/delta"
		p, err := c.GetPage(emutest.Context(t), immutable, link)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Items) > 3 {
			t.Fatalf("page of %d items with odata.maxpagesize=3 alongside other Prefer values", len(p.Items))
		}
		items, _ := pageAll(t, c, immutable, link)
		immIDs = append(immIDs, ids(t, items, nil)...)
		items, _ = pageAll(t, c, plain, link)
		plainIDs = append(plainIDs, ids(t, items, nil)...)
	}
	if len(immIDs) == 0 || len(immIDs) != len(plainIDs) {
		t.Fatalf("%d immutable ids, %d default ids", len(immIDs), len(plainIDs))
	}
	for _, id := range immIDs {
		if slices.Contains(plainIDs, id) {
			t.Fatalf("id %s came back unchanged with IdType=ImmutableId: the Prefer values were not all sent", id)
		}
	}
}

// isPartial reports whether a message delta entry is a partial update: not a
// tombstone, and without what every full message carries.
func isPartial(raw json.RawMessage) bool {
	t := graphsync.Mail.Items()
	return !t.IsRemoved(raw) && !t.IsFull(raw)
}
