package graph_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graph"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/emutest"
	"github.com/graphsync/graphsync/internal/logtest"
	"github.com/graphsync/graphsync/internal/origin"
	"github.com/graphsync/graphsync/internal/secretscan"
)

// Links are checked the way they are followed: on the configured origin
// after normalisation, under an API version, without credentials.
func TestCheckLink(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		base, link string
		ok         bool
	}{
		{"https://graph.microsoft.com", "https://graph.microsoft.com/v1.0/me/mailFolders/delta?$skiptoken=x", true},
		{"https://graph.microsoft.com", "https://graph.microsoft.com:443/v1.0/me/messages", true},
		{"https://graph.microsoft.com:443", "https://graph.microsoft.com/v1.0/me/messages?$deltatoken=y", true},
		{"https://graph.microsoft.com:443/", "https://GRAPH.microsoft.com/beta/me", true},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080/v1.0/me/drive/root/delta(token='abc')", true},
		{"http://graph.test", "http://graph.test:80/v1.0/me", true},
		{"https://graph.microsoft.com", "/me/people?$skip=10", true},
		{"https://proxy.example/graph", "https://proxy.example/graph/v1.0/me", true},
		{"https://graph.microsoft.com", "https://evil.example/v1.0/me?$skiptoken=x", false},
		{"https://graph.microsoft.com", "https://graph.microsoft.com:8443/v1.0/me", false},
		{"https://graph.microsoft.com", "http://graph.microsoft.com/v1.0/me", false},
		{"https://graph.microsoft.com:443", "https://graph.microsoft.com:444/v1.0/me", false},
		{"https://graph.microsoft.com", "https://user:pw@graph.microsoft.com/v1.0/me", false},
		{"https://graph.microsoft.com", "https://graph.microsoft.com/elsewhere/me", false},
		{"https://graph.microsoft.com", "https://graph.microsoft.com/v1.0/../login", false},
		{"https://proxy.example/graph", "https://proxy.example/v1.0/me", false},
		{"https://graph.microsoft.com", "", false},
	} {
		c, err := graph.NewClient(graph.Config{BaseURL: tc.base})
		if err != nil {
			t.Fatal(err)
		}
		err = c.CheckLink(tc.link)
		if (err == nil) != tc.ok {
			t.Errorf("base %s, link %q: error %v, want ok %t", tc.base, tc.link, err, tc.ok)
		}
		if err != nil && strings.Contains(err.Error(), "skiptoken=x") {
			t.Errorf("error repeats the token: %v", err)
		}
	}
}

// 500 and 502 are retried like 503 and 504 (TestRetriesInjectedFaults), a
// bounded number of times: a server that keeps failing is given up on
// after MaxRetries.
func TestServerErrorsAreGivenUpOn(t *testing.T) {
	t.Parallel()
	b := emutest.Setup(t, emulator.Config{Users: 1, MessagesPerUser: 5})
	tok := b.SignIn(t, mailScopes())
	c := newClient(t, b, graph.Config{MaxRetries: 2})
	call := mailCall(tok, b.User.ID)
	b.Srv.SetFaults(emulator.Faults{Routes: []string{"/mailFolders/delta"}, Status500: 1})
	before := totalRequests(b.Srv)
	_, err := c.GetPage(emutest.Context(t), call, "/me/mailFolders/delta")
	var ge *graph.Error
	if !errors.As(err, &ge) || ge.Status != http.StatusInternalServerError {
		t.Fatalf("a server failing every time: %v, want a 500 *graph.Error", err)
	}
	if n := totalRequests(b.Srv) - before; n != 3 {
		t.Fatalf("%d requests, want 3 (one and two retries)", n)
	}
}

// A redirect to another origin is not followed: neither the bearer token
// nor anything else reaches the other host, the answer is an error naming
// the origins, and it is not retried. The identity platform's client
// refuses such a redirect of a token request just the same.
func TestRedirectsElsewhereAreRefused(t *testing.T) {
	t.Parallel()
	var reached atomic.Int64
	var gotAuth, gotBody atomic.Value
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		gotAuth.Store(r.Header.Get("Authorization"))
		_ = r.ParseForm()
		gotBody.Store(r.PostForm.Encode())
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"value":[],"@odata.deltaLink":"` + r.Host + `/v1.0/x?$deltatoken=stolen"}`))
	}))
	defer other.Close()

	b := emutest.Setup(t, emulator.Config{Users: 1, MessagesPerUser: 5})
	tok := b.SignIn(t, mailScopes())
	c := newClient(t, b, graph.Config{MaxRetries: 3})
	for _, status := range []int{301, 302, 303, 307, 308} {
		b.Srv.SetFaults(emulator.Faults{Routes: []string{"mailFolders"}, Redirect: status, RedirectTo: other.URL})
		before := totalRequests(b.Srv)
		_, err := c.GetPage(emutest.Context(t), mailCall(tok, b.User.ID), "/me/mailFolders/delta")
		var re *origin.RedirectError
		if !errors.As(err, &re) {
			t.Fatalf("redirect %d to another origin: %v, want a refused redirect", status, err)
		}
		if n := totalRequests(b.Srv) - before; n != 1 {
			t.Errorf("redirect %d: %d requests to Graph, want 1 (no retry)", status, n)
		}
		emutest.AssertNoSecrets(t, b.Srv, err.Error())
	}
	if n := reached.Load(); n != 0 {
		t.Fatalf("the other origin received %d requests (Authorization %q)", n, gotAuth.Load())
	}
	b.Srv.SetFaults(emulator.Faults{})

	// The token endpoint answering 307 elsewhere would replay the form:
	// client secret, code or refresh token, PKCE verifier.
	b.Srv.SetFaults(emulator.Faults{TokenRedirect: other.URL})
	_, err := b.Auth.Refresh(emutest.Context(t), tok.RefreshToken, mailScopes())
	if err == nil {
		t.Fatal("refresh through a redirect elsewhere succeeded")
	}
	var re *origin.RedirectError
	if !errors.As(err, &re) {
		t.Errorf("refresh through a redirect elsewhere: %v, want a refused redirect", err)
	}
	if n := reached.Load(); n != 0 {
		t.Fatalf("the other origin received the token request: %q", gotBody.Load())
	}
	emutest.AssertNoSecrets(t, b.Srv, err.Error())
}

// OneDrive puts its delta token in the path, root/delta(token='...'):
// neither errors nor the debug log may repeat it.
func TestDriveTokensStayOutOfErrors(t *testing.T) {
	t.Parallel()
	b := emutest.Setup(t, emulator.Config{Users: 1, MessagesPerUser: 5})
	tok := b.SignIn(t, graphsync.DelegatedScopes([]*graphsync.Resource{graphsync.Drive}))
	var log logtest.Buffer
	c := newClient(t, b, graph.Config{MaxRetries: 1, Logger: log.Logger()})
	call := graph.Call{Token: tok.AccessToken, Tenant: b.Srv.TenantID(), Service: graphsync.OneDrive, Resource: "drive"}
	_, delta := pageAll(t, c, call, "/me/drive/root/delta")
	if !strings.Contains(delta, "(token=") {
		t.Fatalf("deltaLink %q has no token in its path", delta)
	}
	b.Srv.SetFaults(emulator.Faults{DeltaExpired: 1})
	_, err := c.GetPage(emutest.Context(t), call, delta)
	if !graph.IsSyncReset(err) {
		t.Fatalf("expired token: %v, want a sync reset", err)
	}
	b.Srv.SetFaults(emulator.Faults{Routes: []string{"/root/delta"}, Status500: 1})
	_, err2 := c.GetPage(emutest.Context(t), call, delta)
	if err2 == nil {
		t.Fatal("a failing server answered")
	}
	for _, text := range []string{err.Error(), err2.Error(), log.String()} {
		if f := secretscan.Links("text", []byte(text)); len(f) > 0 {
			t.Errorf("%v in %q", f, text)
		}
	}
	if !strings.Contains(log.String(), "delta(…)") {
		t.Errorf("the debug log does not show the redacted link: %s", log.String())
	}
}

// A page spoiled by one record with a raw control character is an
// UnreadablePageError once the retries are spent, asking for smaller pages;
// at one item per page, the salvaged page refuses that record alone, with
// its id, and carries the link on.
func TestUnreadablePageShrinksThenSalvages(t *testing.T) {
	t.Parallel()
	b := emutest.Setup(t, emulator.Config{Users: 1, MessagesPerUser: 40})
	tok := b.SignIn(t, mailScopes())
	c := newClient(t, b, graph.Config{MaxPageSize: 100, MaxRetries: 1})
	call := mailCall(tok, b.User.ID)
	var inbox string
	for _, f := range folders(t, c, call) {
		if f.DisplayName == "Inbox" {
			inbox = f.ID
		}
	}
	bad, err := b.Srv.InjectControlCharMessage(b.User.ID, inbox)
	if err != nil {
		t.Fatal(err)
	}
	link := "/me/mailFolders/" + inbox + "/messages/delta"
	_, err = c.GetPage(emutest.Context(t), call, link)
	var up *graph.UnreadablePageError
	if !errors.As(err, &up) || up.PageSize != 100 {
		t.Fatalf("spoiled page: %v, want an unreadable page of size 100", err)
	}
	if n, ok := up.SmallerPageSize(); !ok || n != 10 {
		t.Fatalf("smaller page size %d %t, want 10", n, ok)
	}

	call.PageSize = 1
	var items, salvaged int
	for pages := 0; ; pages++ {
		if pages > 200 {
			t.Fatal("round did not end")
		}
		p, err := c.GetPage(emutest.Context(t), call, link)
		if errors.As(err, &up) {
			if _, ok := up.SmallerPageSize(); ok {
				t.Fatalf("a page of one item can get smaller: %+v", up)
			}
			whole := call
			whole.Salvage = true
			if p, err = c.GetPage(emutest.Context(t), whole, link); err != nil {
				t.Fatalf("salvage: %v", err)
			}
			if len(p.Items) != 0 || len(p.Refused) != 1 || p.Refused[0].ID != bad || (p.NextLink == "" && p.DeltaLink == "") {
				t.Fatalf("salvaged page: %d items, %d refused, links %q %q", len(p.Items), len(p.Refused), p.NextLink, p.DeltaLink)
			}
			salvaged++
		} else if err != nil {
			t.Fatal(err)
		}
		items += len(p.Items)
		if p.NextLink == "" {
			break
		}
		link = p.NextLink
	}
	if items == 0 || salvaged != 1 {
		t.Fatalf("%d messages read, %d pages salvaged; want the messages around the spoiled one, and it salvaged", items, salvaged)
	}
}
