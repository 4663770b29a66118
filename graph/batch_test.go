package graph_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graph"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/emutest"
)

func TestBatchReadsDeltaLinksInOneRequest(t *testing.T) {
	t.Parallel()
	b := emutest.Setup(t, emulator.Config{MessagesPerUser: 60})
	tok := b.SignIn(t, mailScopes())
	c := newClient(t, b, graph.Config{MaxPageSize: 5})
	call := mailCall(tok, b.User.ID)
	call.ImmutableIDs = true
	var links []string
	for _, f := range folders(t, c, call) {
		_, delta := pageAll(t, c, call, "/me/mailFolders/"+f.ID+"/messages/delta")
		links = append(links, delta)
	}
	if len(links) < 3 {
		t.Fatalf("%d folders: too few to batch", len(links))
	}
	b.Srv.Mutate(30)
	b.Srv.ResetCounters()
	results, err := c.Batch(emutest.Context(t), gets(call, links...))
	if err != nil {
		t.Fatal(err)
	}
	if n := b.Srv.Counters().RoundTrips; n != 1 {
		t.Fatalf("%d round trips for a batch of %d links, want 1", n, len(links))
	}
	// Each answer is the page GetPage reads from the same link.
	changed := 0
	for i, res := range results {
		single, err := c.GetPage(emutest.Context(t), call, links[i])
		if res.Err != nil || err != nil {
			// A folder the mutations deleted: the same answer both ways.
			if !graph.IsNotFound(res.Err) || !graph.IsNotFound(err) {
				t.Fatalf("link %d: batch %v, GetPage %v", i, res.Err, err)
			}
			continue
		}
		if !slices.Equal(ids(t, res.Page.Items, nil), ids(t, single.Items, nil)) || (res.Page.NextLink == "") != (single.NextLink == "") ||
			(res.Page.DeltaLink == "") != (single.DeltaLink == "") {
			t.Fatalf("link %d: batch page %d items (next %t), GetPage %d items (next %t)", i,
				len(res.Page.Items), res.Page.NextLink != "", len(single.Items), single.NextLink != "")
		}
		if res.Page.RequestID == "" {
			t.Errorf("link %d: no request-id", i)
		}
		changed += len(res.Page.Items)
	}
	if changed == 0 {
		t.Fatal("no change in any folder after 30 mutations: the comparison proves nothing")
	}
	if _, err := c.Batch(emutest.Context(t), gets(call, make([]string, graph.MaxBatch+1)...)); err == nil || !strings.Contains(err.Error(), "at most 20") {
		t.Fatalf("a batch of 21: %v, want refused", err)
	}
}

// Graph evaluates each request of a batch against the limits: some can be
// throttled while others succeed, each 429 with its own Retry-After, which
// the mailbox's gate then keeps.
func TestBatchThrottledRequestsComeBackOnTheirOwn(t *testing.T) {
	t.Parallel()
	b := emutest.Setup(t, emulator.Config{MessagesPerUser: 30})
	tok := b.SignIn(t, mailScopes())
	c := newClient(t, b, graph.Config{MaxInlineWait: time.Millisecond})
	call := mailCall(tok, b.User.ID)
	var links []string
	for _, f := range folders(t, c, call) {
		_, delta := pageAll(t, c, call, "/me/mailFolders/"+f.ID+"/messages/delta")
		links = append(links, delta)
	}
	b.Srv.SetThrottle(emulator.Throttle{Outlook: emulator.OutlookLimits{Requests: 2, Window: time.Minute}})
	counted := graph.RequestsCounted(call.Resource, http.MethodGet, "429")
	results, err := c.Batch(emutest.Context(t), gets(call, links...))
	if err != nil {
		t.Fatal(err)
	}
	var ok, throttled int
	for _, res := range results {
		switch ra, is := graph.IsThrottled(res.Err); {
		case res.Page != nil:
			ok++
		case is && ra > 0:
			throttled++
		default:
			t.Fatalf("answer neither a page nor throttled: %v", res.Err)
		}
	}
	if ok != 2 || throttled != len(links)-2 {
		t.Fatalf("%d pages and %d throttled of %d, want 2 pages within the limit of 2 and the rest throttled", ok, throttled, len(links))
	}
	if c.BlockedUntil(mailbox(b.User.ID)).IsZero() {
		t.Fatal("the mailbox's gate did not keep the Retry-After of the throttled requests")
	}
	// Other tests of the package only add to the counter.
	if got := graph.RequestsCounted(call.Resource, http.MethodGet, "429") - counted; got < float64(throttled) {
		t.Fatalf("graphsync_graph_requests_total counted %v throttled GETs of the batch, want at least %d", got, throttled)
	}
}

// gets turns links of one call into a batch's requests.
func gets(call graph.Call, links ...string) []graph.PageRequest {
	out := make([]graph.PageRequest, len(links))
	for i, l := range links {
		out[i] = graph.PageRequest{Call: call, Link: l}
	}
	return out
}

// One batch carries requests of several scopes (a mailbox's Outlook, the
// tenant's OneDrive and Teams), each answered as GetPage answers it; a
// scope whose Retry-After window is open stays out of the batch, its
// requests answered with that window and never sent.
func TestBatchMixesScopes(t *testing.T) {
	t.Parallel()
	b := emutest.Setup(t, emulator.Config{MessagesPerUser: 20, DriveItemsPerUser: 5, ChatsPerUser: 2})
	tok := b.SignIn(t, graphsync.DelegatedScopes([]*graphsync.Resource{graphsync.Mail, graphsync.Drive, graphsync.Chats}))
	c := newClient(t, b, graph.Config{MaxInlineWait: time.Millisecond})
	mail := mailCall(tok, b.User.ID)
	tenant := b.Srv.TenantID()
	mail.Tenant = tenant
	drive := graph.Call{Token: tok.AccessToken, Mailbox: b.User.ID, Tenant: tenant, Service: graphsync.OneDrive, Resource: "drive"}
	chats := graph.Call{Token: tok.AccessToken, Mailbox: b.User.ID, Tenant: tenant, Service: graphsync.Teams, Resource: "chats"}
	_, mailDelta := pageAll(t, c, mail, "/me/mailFolders/inbox/messages/delta")
	_, driveDelta := pageAll(t, c, drive, "/me/drive/root/delta")
	reqs := []graph.PageRequest{{Call: mail, Link: mailDelta}, {Call: drive, Link: driveDelta}, {Call: chats, Link: "/me/chats"}}

	b.Srv.ResetCounters()
	results, err := c.Batch(emutest.Context(t), reqs)
	if err != nil {
		t.Fatal(err)
	}
	if n := b.Srv.Counters().RoundTrips; n != 1 {
		t.Fatalf("%d round trips for a batch of 3 scopes, want 1", n)
	}
	for i, res := range results {
		single, err := c.GetPage(emutest.Context(t), reqs[i].Call, reqs[i].Link)
		if res.Err != nil || err != nil {
			t.Fatalf("%s: batch %v, GetPage %v", reqs[i].Call.Resource, res.Err, err)
		}
		if len(res.Page.Items) != len(single.Items) || (res.Page.DeltaLink == "") != (single.DeltaLink == "") {
			t.Fatalf("%s: batch page of %d items (delta link %t), GetPage %d (%t)", reqs[i].Call.Resource,
				len(res.Page.Items), res.Page.DeltaLink != "", len(single.Items), single.DeltaLink != "")
		}
	}
	if len(results[2].Page.Items) != 2 {
		t.Fatalf("chat list of %d chats, want 2", len(results[2].Page.Items))
	}

	// OneDrive's window for the tenant is open: its request is not sent.
	c.Block(graphsync.ScopeOf(graphsync.OneDrive, tenant, b.User.ID), time.Now().Add(time.Minute))
	b.Srv.ResetCounters()
	results, err = c.Batch(emutest.Context(t), reqs)
	if err != nil {
		t.Fatal(err)
	}
	if ra, is := graph.IsThrottled(results[1].Err); !is || ra < 50*time.Second {
		t.Fatalf("drive request under an open window: %v, want throttled for about a minute", results[1].Err)
	}
	if results[0].Page == nil || results[2].Page == nil {
		t.Fatalf("the other scopes' requests: %v, %v", results[0].Err, results[2].Err)
	}
	for route := range b.Srv.Counters().Requests {
		if strings.Contains(route, "drive") {
			t.Fatalf("the drive's request went out under its open window (%s)", route)
		}
	}
}
