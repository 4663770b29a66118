package emulator

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// folderIDs maps mail folder display names to ids.
func folderIDs(t *testing.T, b *bundle, tok, user string) map[string]string {
	t.Helper()
	ids := map[string]string{}
	b.syncRound(t, tok, "/v1.0/users/"+user+"/mailFolders/delta", func(it map[string]json.RawMessage) {
		ids[str(it, "displayName")] = str(it, "id")
	})
	return ids
}

func mustFaults(t *testing.T, b *bundle, f Faults) {
	t.Helper()
	if err := b.srv.SetFaults(f); err != nil {
		t.Fatalf("SetFaults: %v", err)
	}
}

// getPage GETs a page and decodes it, failing the test on any other answer.
func (b *bundle) getPage(t *testing.T, tok, link string, hdr ...string) page {
	t.Helper()
	resp, body := b.get(t, tok, link, hdr...)
	return decodePage(t, resp, body)
}

func decodePage(t *testing.T, resp *http.Response, body []byte) page {
	t.Helper()
	var p page
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %d %s", resp.Request.URL, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("decode page: %v", err)
	}
	return p
}

// Paging links that leave the service or name the host with its default
// port: each kind on its own, and only on the routes asked for. Graph's
// links are absolute URLs the client must follow verbatim
// (https://learn.microsoft.com/graph/paging), so a client has to check
// their origin itself.
func TestFaultLinkOrigins(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 41, Users: 1, MessagesPerUser: 60})
	tok := b.appToken(t)
	u := b.srv.Users()[0].ID
	ids := folderIDs(t, b, tok, u)
	inbox, sent := ids["Inbox"], ids["Sent Items"]
	start := "/v1.0/users/" + u + "/mailFolders/" + inbox + "/messages/delta"
	mp := []string{"Prefer", "odata.maxpagesize=4"}

	normal := b.getPage(t, tok, start, mp...)
	want := strings.TrimPrefix(normal.NextLink, b.srv.URL())
	if normal.NextLink == "" || want == normal.NextLink {
		t.Fatalf("unexpected first page link %q", normal.NextLink)
	}

	mustFaults(t, b, Faults{Routes: []string{inbox}, LinkOrigin: "https://evil.example", LinkKind: "nextLink"})
	p := b.getPage(t, tok, start, mp...)
	if !strings.HasPrefix(p.NextLink, "https://evil.example/v1.0/users/"+u+"/mailFolders/"+inbox+"/messages/delta?$skiptoken=") {
		t.Errorf("nextLink %q does not leave for https://evil.example", p.NextLink)
	}
	if len(p.Value) != len(normal.Value) {
		t.Errorf("items changed: %d, want %d", len(p.Value), len(normal.Value))
	}
	// Other folders are untouched.
	if q := b.getPage(t, tok, "/v1.0/users/"+u+"/mailFolders/"+sent+"/messages/delta", mp...); !strings.HasPrefix(q.NextLink, b.srv.URL()) {
		t.Errorf("Sent Items link rewritten: %q", q.NextLink)
	}

	// deltaLink only: the nextLinks stay home, the round's last link leaves.
	mustFaults(t, b, Faults{Routes: []string{inbox}, LinkOrigin: "https://evil.example:8443", LinkKind: "deltaLink"})
	link := start
	for i := 0; ; i++ {
		p := b.getPage(t, tok, link, mp...)
		if p.DeltaLink != "" {
			if !strings.HasPrefix(p.DeltaLink, "https://evil.example:8443/v1.0/users/"+u+"/mailFolders/"+inbox+"/messages/delta?$deltatoken=") {
				t.Errorf("deltaLink %q", p.DeltaLink)
			}
			break
		}
		if !strings.HasPrefix(p.NextLink, b.srv.URL()+"/") || i > 100 {
			t.Fatalf("nextLink %q rewritten or round endless", p.NextLink)
		}
		link = p.NextLink
	}

	// The right host with the scheme's default port made explicit.
	mustFaults(t, b, Faults{Routes: []string{inbox}, LinkDefaultPort: true})
	p = b.getPage(t, tok, start, mp...)
	if !strings.HasPrefix(p.NextLink, "http://127.0.0.1:80/v1.0/users/"+u+"/mailFolders/"+inbox+"/messages/delta?$skiptoken=") {
		t.Errorf("nextLink %q, want it on http://127.0.0.1:80 (was %s)", p.NextLink, want)
	}
	if n := b.srv.Counters().Faults; n["link_origin"] < 2 || n["link_default_port"] != 1 {
		t.Errorf("fault counters %v", n)
	}

	// Bad settings are refused with a reason, over the control plane too.
	for _, f := range []Faults{{LinkOrigin: "evil.example"}, {LinkOrigin: "https://evil.example/x"}, {LinkKind: "next"},
		{Redirect: 200}, {RedirectTo: "https://evil.example"}, {Status500: 2}, {TokenRedirect: "/relative"},
		{LinkOrigin: "https://evil.example", LinkDefaultPort: true}} {
		if err := b.srv.SetFaults(f); err == nil {
			t.Errorf("SetFaults(%+v) accepted", f)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, b.srv.URL()+"/_emulator/faults", strings.NewReader(`{"LinkKind":"sideways"}`))
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(body), "LinkKind") {
		t.Errorf("control plane accepted a bad LinkKind: %d %s", resp.StatusCode, body)
	}
}

// A nextLink that points at the page itself, and an endless chain of
// distinct empty pages, for one folder's delta only.
func TestFaultLinkLoopAndEmptyPages(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 42, Users: 1, MessagesPerUser: 60})
	tok := b.appToken(t)
	u := b.srv.Users()[0].ID
	ids := folderIDs(t, b, tok, u)
	inbox, sent := ids["Inbox"], ids["Sent Items"]
	start := "/v1.0/users/" + u + "/mailFolders/" + inbox + "/messages/delta"
	mp := []string{"Prefer", "odata.maxpagesize=5"}

	mustFaults(t, b, Faults{Routes: []string{inbox}, NextLinkLoop: true})
	first := b.getPage(t, tok, start, mp...)
	if first.NextLink != b.srv.URL()+start {
		t.Errorf("nextLink %q is not the request's URL", first.NextLink)
	}
	again := b.getPage(t, tok, first.NextLink, mp...)
	if again.NextLink != first.NextLink || len(again.Value) != len(first.Value) || str(again.Value[0], "id") != str(first.Value[0], "id") {
		t.Errorf("following the loop gave another page: %q, %d items", again.NextLink, len(again.Value))
	}
	// A last page loops too, its deltaLink replaced by the self link.
	mustFaults(t, b, Faults{})
	link := start
	for {
		p := b.getPage(t, tok, link, mp...)
		if p.DeltaLink != "" {
			break
		}
		link = p.NextLink
	}
	mustFaults(t, b, Faults{Routes: []string{inbox}, NextLinkLoop: true})
	last := b.getPage(t, tok, link, mp...)
	if last.DeltaLink != "" || last.NextLink != link {
		t.Errorf("last page: deltaLink %q, nextLink %q, want nextLink %q", last.DeltaLink, last.NextLink, link)
	}

	// Endless distinct empty pages on the inbox; Sent Items is served.
	mustFaults(t, b, Faults{Routes: []string{inbox}, EmptyPages: true})
	seen := map[string]bool{}
	link = start
	for i := 0; i < 25; i++ {
		p := b.getPage(t, tok, link, mp...)
		if len(p.Value) != 0 || p.DeltaLink != "" || p.NextLink == "" || seen[p.NextLink] {
			t.Fatalf("page %d: %d items, deltaLink %q, nextLink %q (seen %v)", i, len(p.Value), p.DeltaLink, p.NextLink, seen[p.NextLink])
		}
		seen[p.NextLink] = true
		link = p.NextLink
	}
	if p := b.getPage(t, tok, "/v1.0/users/"+u+"/mailFolders/"+sent+"/messages/delta", mp...); len(p.Value) == 0 {
		t.Error("Sent Items served empty too")
	}
	// Cleared, the chain's last link carries on with the whole round.
	mustFaults(t, b, Faults{})
	n := 0
	b.syncRound(t, tok, link, func(map[string]json.RawMessage) { n++ }, mp...)
	truth := 0
	for _, r := range must(b.srv.Truth(u, "messages")) {
		if strings.Contains(string(r), `"parentFolderId":"`+inbox+`"`) {
			truth++
		}
	}
	if n != truth || n == 0 {
		t.Errorf("after the empty chain the round served %d messages, the inbox holds %d", n, truth)
	}
	if c := b.srv.Counters().Faults; c["empty_page"] != 25 || c["next_link_loop"] < 3 {
		t.Errorf("fault counters %v", c)
	}
}

// A Graph response that redirects to another origin, and a token endpoint
// that answers 307 (which keeps the method and body) to another origin.
func TestFaultRedirects(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 43, Users: 1, MessagesPerUser: 5})
	tok := b.appToken(t)
	u := b.srv.Users()[0].ID
	path := "/v1.0/users/" + u + "/mailFolders/delta?$select=displayName"
	for _, tc := range []struct {
		status int
		to     string
		want   string
	}{
		{302, "", "https://evil.example" + path},
		{307, "http://127.0.0.1:9/collect", "http://127.0.0.1:9/collect"},
		{301, "https://evil.example:444/", "https://evil.example:444" + path},
	} {
		mustFaults(t, b, Faults{Routes: []string{"mailFolders"}, Redirect: tc.status, RedirectTo: tc.to})
		resp, body := b.get(t, tok, path)
		if resp.StatusCode != tc.status || resp.Header.Get("Location") != tc.want || len(body) != 0 {
			t.Errorf("Redirect %d to %q: %d Location %q body %q", tc.status, tc.to, resp.StatusCode, resp.Header.Get("Location"), body)
		}
	}
	// Routes holds: another resource is served.
	if resp, body := b.get(t, tok, "/v1.0/users/"+u); resp.StatusCode != 200 {
		t.Errorf("unrouted request: %d %s", resp.StatusCode, body)
	}

	mustFaults(t, b, Faults{TokenRedirect: "https://evil.example"})
	st, body := b.postForm(t, "/"+b.srv.TenantID()+"/oauth2/v2.0/token", url.Values{"client_id": {defaultClientID},
		"client_secret": {defaultSecret}, "grant_type": {"client_credentials"}, "scope": {"https://graph.microsoft.com/.default"}})
	if st != http.StatusTemporaryRedirect || body != "" {
		t.Errorf("token endpoint: %d %q, want 307", st, body)
	}
	req, _ := http.NewRequest(http.MethodPost, b.srv.URL()+"/common/oauth2/v2.0/token", strings.NewReader("grant_type=refresh_token"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 307 || resp.Header.Get("Location") != "https://evil.example/common/oauth2/v2.0/token" {
		t.Errorf("token redirect: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	c := b.srv.Counters().Faults
	if c["redirect"] != 3 || c["token_redirect"] != 2 {
		t.Errorf("fault counters %v", c)
	}
}

// One record with a raw control character spoils its whole page (JSON
// forbids unescaped control characters in strings, RFC 8259 §7), and
// Prefer: odata.maxpagesize=1 isolates it; message delta honours
// odata.maxpagesize from 1 up to 1000 and echoes it in Preference-Applied.
// https://learn.microsoft.com/graph/api/message-delta
func TestControlCharMessageAndPageSizes(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 44, Users: 1, MessagesPerUser: 30, LazyMessages: 1200})
	tok := b.appToken(t)
	u := b.srv.Users()[0].ID
	inbox := folderIDs(t, b, tok, u)["Inbox"]
	bad, err := b.srv.InjectControlCharMessage(u, inbox)
	if err != nil {
		t.Fatal(err)
	}
	after, err := b.srv.InjectLargeMessages(u, inbox, 3, 100)
	if err != nil {
		t.Fatal(err)
	}
	nextLink := regexp.MustCompile(`"@odata\.nextLink":"([^"]+)"`)
	start := "/v1.0/users/" + u + "/mailFolders/" + inbox + "/messages/delta"
	round := func(size int) (valid, items int, spoiled [][]byte) {
		link := start
		for i := 0; i < 1000; i++ {
			resp, body := b.get(t, tok, link, "Prefer", "odata.maxpagesize="+strconv.Itoa(size))
			if resp.StatusCode != 200 || resp.Header.Get("Preference-Applied") != "odata.maxpagesize="+strconv.Itoa(size) {
				t.Fatalf("maxpagesize %d: %d, Preference-Applied %q", size, resp.StatusCode, resp.Header.Get("Preference-Applied"))
			}
			if !json.Valid(body) {
				spoiled = append(spoiled, body)
				m := nextLink.FindSubmatch(body)
				if m == nil {
					return // the last page: no way on
				}
				link = string(m[1])
				continue
			}
			valid++
			var p page
			_ = json.Unmarshal(body, &p)
			if len(p.Value) > size {
				t.Errorf("maxpagesize %d: page of %d", size, len(p.Value))
			}
			items += len(p.Value)
			if p.DeltaLink != "" {
				return
			}
			link = p.NextLink
		}
		t.Fatal("round did not end")
		return
	}
	valid, items, spoiled := round(1)
	if len(spoiled) != 1 || !bytes.Contains(spoiled[0], []byte("\x01")) || !bytes.Contains(spoiled[0], []byte(bad)) ||
		strings.Count(string(spoiled[0]), `"@odata.type":"#microsoft.graph.message"`) != 1 {
		t.Fatalf("maxpagesize=1: %d spoiled pages, want one holding only %s", len(spoiled), bad)
	}
	if valid != items || items < len(after)+5 {
		t.Errorf("maxpagesize=1: %d valid pages, %d items", valid, items)
	}
	_, items10, spoiled10 := round(10)
	if len(spoiled10) != 1 || strings.Count(string(spoiled10[0]), `"@odata.type":"#microsoft.graph.message"`) < 2 {
		t.Errorf("maxpagesize=10: the spoiled page should take other messages with it")
	}
	if items10 >= items {
		t.Errorf("maxpagesize=10 lost no messages beside the spoiled one: %d, %d", items10, items)
	}
	for _, r := range must(b.srv.Truth(u, "messages")) {
		if bytes.Contains(r, []byte(bad)) {
			t.Error("the spoiled message is in the ground truth")
		}
	}

	// Up to 1000 per page; more is capped at 1000, as Preference-Applied says.
	lazy := lazyFolderID(t, b, tok, u, 1200)
	for _, tc := range []struct{ asked, got int }{{1000, 1000}, {5000, 1000}, {1, 1}} {
		resp, body := b.get(t, tok, "/v1.0/users/"+u+"/mailFolders/"+lazy+"/messages/delta", "Prefer", "odata.maxpagesize="+strconv.Itoa(tc.asked))
		p := decodePage(t, resp, body)
		if len(p.Value) != tc.got || resp.Header.Get("Preference-Applied") != "odata.maxpagesize="+strconv.Itoa(tc.got) {
			t.Errorf("maxpagesize %d: %d items, Preference-Applied %q", tc.asked, len(p.Value), resp.Header.Get("Preference-Applied"))
		}
	}
}

// Messages large enough that a page of 100 is over 64 MiB (smaller pages
// stay under it), and a single message over 64 MiB. Not parallel: it holds
// a few hundred megabytes.
func TestLargeMessages(t *testing.T) {
	b := setup(t, Config{Seed: 45, Users: 1, MessagesPerUser: 1})
	tok := b.appToken(t)
	u := b.srv.Users()[0].ID
	if _, err := b.srv.InjectLargeMessages(u, "outbox", 0, 10); err == nil {
		t.Error("n=0 accepted")
	}
	if _, err := b.srv.InjectLargeMessages(u, "outbox", 10000, 1<<20); err == nil {
		t.Error("10 GB accepted")
	}
	ids, err := b.srv.InjectLargeMessages(u, "outbox", 100, 680_000)
	if err != nil || len(ids) != 100 {
		t.Fatalf("inject: %v (%d ids)", err, len(ids))
	}
	start := "/v1.0/users/" + u + "/mailFolders/outbox/messages/delta"
	const limit = 64 << 20
	var delta string
	resp, body := b.get(t, tok, start, "Prefer", "odata.maxpagesize=100")
	if resp.StatusCode != 200 || len(body) <= limit || resp.ContentLength != int64(len(body)) ||
		bytes.Count(body, []byte(`"@odata.type":"#microsoft.graph.message"`)) != 100 || !bytes.Contains(body, []byte(`"@odata.deltaLink"`)) {
		t.Fatalf("page of 100: %d, %d bytes (Content-Length %d)", resp.StatusCode, len(body), resp.ContentLength)
	}
	// Pages of 10 stay under the limit and, together, serve all 100.
	n, pages := 0, 0
	link := start
	linkRE := regexp.MustCompile(`"@odata\.(next|delta)Link":"([^"]+)"`)
	for link != "" {
		resp, body := b.get(t, tok, link, "Prefer", "odata.maxpagesize=10")
		if resp.StatusCode != 200 || len(body) >= limit/4 {
			t.Fatalf("page of 10: %d, %d bytes", resp.StatusCode, len(body))
		}
		if pages == 0 && !json.Valid(body) {
			t.Fatal("page of 10 is not JSON")
		}
		pages++
		n += bytes.Count(body, []byte(`"@odata.type":"#microsoft.graph.message"`))
		link = ""
		if m := linkRE.FindSubmatch(body); m != nil && string(m[1]) == "next" {
			link = string(m[2])
		} else if m != nil {
			delta = string(m[2])
		}
	}
	if n != 100 || pages != 10 {
		t.Errorf("pages of 10 served %d messages in %d pages", n, pages)
	}

	big, err := b.srv.InjectLargeMessages(u, "outbox", 1, 65<<20)
	if err != nil {
		t.Fatal(err)
	}
	resp, body = b.get(t, tok, delta, "Prefer", "odata.maxpagesize=1")
	if resp.StatusCode != 200 || len(body) <= limit || !bytes.Contains(body, []byte(big[0])) || !json.Valid(body) {
		t.Fatalf("one message over 64 MiB: %d, %d bytes", resp.StatusCode, len(body))
	}
}

// OneDrive's links put the token in the path, function style, as
// driveitem-delta documents (…/root/delta(token='…')); the unquoted
// delta(token=…) and ?token=… forms are accepted too.
// https://learn.microsoft.com/graph/api/driveitem-delta
func TestDriveDeltaLinkForm(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 46, Users: 1, MessagesPerUser: 1, DriveItemsPerUser: 12})
	tok := b.appToken(t)
	u := b.srv.Users()[0].ID
	form := regexp.MustCompile(`^` + regexp.QuoteMeta(b.srv.URL()) + `/v1\.0/drives/[^/?]+/root/delta\(token='([A-Za-z0-9_.-]+)'\)$`)
	p := b.getPage(t, tok, "/v1.0/users/"+u+"/drive/root/delta?$top=5")
	m := form.FindStringSubmatch(p.NextLink)
	if m == nil || len(p.Value) != 5 {
		t.Fatalf("nextLink %q (%d items) is not …/root/delta(token='…')", p.NextLink, len(p.Value))
	}
	quoted := b.getPage(t, tok, p.NextLink)
	base := strings.TrimSuffix(p.NextLink, "(token='"+m[1]+"')")
	for _, alt := range []string{base + "(token=" + m[1] + ")", base + "?token=" + m[1]} {
		q := b.getPage(t, tok, alt)
		if len(q.Value) != len(quoted.Value) || str(q.Value[0], "id") != str(quoted.Value[0], "id") {
			t.Errorf("%s serves another page", alt)
		}
	}
	delta := b.syncRound(t, tok, p.NextLink, func(map[string]json.RawMessage) {})
	if !form.MatchString(delta) {
		t.Errorf("deltaLink %q is not …/root/delta(token='…')", delta)
	}
}
