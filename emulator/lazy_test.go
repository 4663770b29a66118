package emulator

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// lazyFolderID finds the lazy archive through mailFolders delta, as a
// client would, and checks its counts.
func lazyFolderID(t *testing.T, b *bundle, tok, user string, n int) string {
	t.Helper()
	var id, parent, archive string
	var total int
	b.syncRound(t, tok, "/v1.0/users/"+user+"/mailFolders/delta", func(it map[string]json.RawMessage) {
		switch str(it, "displayName") {
		case lazyFolderName:
			id, parent = str(it, "id"), str(it, "parentFolderId")
			_ = json.Unmarshal(it["totalItemCount"], &total)
		case "Archive":
			archive = str(it, "id")
		}
	})
	if id == "" {
		t.Fatal("mailFolders delta lists no lazy folder")
	}
	if parent != archive {
		t.Errorf("lazy folder's parent %s, Archive is %s", parent, archive)
	}
	if total != n {
		t.Errorf("lazy folder totalItemCount %d, want %d", total, n)
	}
	return id
}

// lazyPage is one page of a round, raw and decoded.
type lazyPage struct {
	raw     []byte
	p       page
	applied []string
}

// round pages from start to the deltaLink, keeping every page.
func lazyRound(t *testing.T, b *bundle, tok, start string, hdr ...string) []lazyPage {
	t.Helper()
	var out []lazyPage
	for link := start; link != ""; {
		resp, body := b.get(t, tok, link, hdr...)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %.300s", link, resp.StatusCode, body)
		}
		lp := lazyPage{raw: body, applied: resp.Header.Values("Preference-Applied")}
		if err := json.Unmarshal(body, &lp.p); err != nil {
			t.Fatalf("decode page: %v", err)
		}
		out = append(out, lp)
		if lp.p.DeltaLink != "" && lp.p.NextLink != "" {
			t.Fatalf("page has both nextLink and deltaLink")
		}
		link = lp.p.NextLink
		if link == "" && lp.p.DeltaLink == "" {
			t.Fatalf("page has neither nextLink nor deltaLink: %.300s", body)
		}
		if len(out) > 10000 {
			t.Fatal("delta round did not end")
		}
	}
	return out
}

// A lazy archive pages like any folder: maxpagesize pages with skip tokens,
// the deltaLink on the last, every message once with the stored messages'
// shape; the next round is empty, also after mutations.
// https://learn.microsoft.com/en-us/graph/delta-query-messages
func TestLazyArchiveDelta(t *testing.T) {
	t.Parallel()
	const n = 5000
	b := setup(t, Config{Seed: 5, Users: 2, MessagesPerUser: 60, LazyMessages: n})
	tok := b.appToken(t)
	user := b.srv.Users()[0].ID
	fid := lazyFolderID(t, b, tok, user, n)
	start := "/v1.0/users/" + user + "/mailFolders/" + fid + "/messages/delta"
	pages := lazyRound(t, b, tok, start, "Prefer", "odata.maxpagesize=1000")
	if len(pages) != 5 {
		t.Errorf("%d pages of up to 1000 for %d messages, want 5", len(pages), n)
	}
	ids := map[string]bool{}
	var items []map[string]json.RawMessage
	for i, pg := range pages {
		if len(pg.p.Value) != 1000 {
			t.Errorf("page %d has %d items", i, len(pg.p.Value))
		}
		if !slices.Contains(pg.applied, "odata.maxpagesize=1000") {
			t.Errorf("page %d: Preference-Applied %q", i, pg.applied)
		}
		if last := i == len(pages)-1; last != (pg.p.DeltaLink != "") {
			t.Errorf("page %d of %d: deltaLink %q", i, len(pages), pg.p.DeltaLink)
		}
		if pg.p.NextLink != "" && !strings.Contains(pg.p.NextLink, "$skiptoken=") {
			t.Errorf("nextLink without a skip token: %s", pg.p.NextLink)
		}
		for _, it := range pg.p.Value {
			id := str(it, "id")
			if ids[id] {
				t.Fatalf("id %s served twice", id)
			}
			ids[id] = true
			items = append(items, it)
		}
	}
	if len(ids) != n {
		t.Fatalf("round served %d distinct messages, want %d", len(ids), n)
	}

	// The same shape as a stored message: the same properties, bodies of
	// 0.5–20 KB (or an occasional huge one), the folder, the user.
	inbox := lazyRound(t, b, tok, "/v1.0/users/"+user+"/mailFolders/inbox/messages/delta")[0].p.Value[0]
	wantKeys := slices.Sorted(maps.Keys(inbox))
	stored := map[string]bool{}
	big, small, read := 0, 0, 0
	var prev time.Time
	newestStored := time.Now().Add(-365 * 24 * time.Hour)
	for i, it := range items {
		if got := slices.Sorted(maps.Keys(it)); !slices.Equal(got, wantKeys) {
			t.Fatalf("lazy message properties %v, stored message %v", got, wantKeys)
		}
		var body struct{ ContentType, Content string }
		if err := json.Unmarshal(it["body"], &body); err != nil {
			t.Fatal(err)
		}
		switch l := len(body.Content); {
		case l < 512:
			t.Errorf("body of %d bytes", l)
		case l > 100_000:
			big++
		case l < 2048:
			small++
		}
		if str(it, "parentFolderId") != fid || !strings.HasPrefix(str(it, "id"), "AAMkAG") {
			t.Errorf("message %d: parentFolderId %s id %s", i, str(it, "parentFolderId"), str(it, "id"))
		}
		var to []struct{ EmailAddress struct{ Address string } }
		_ = json.Unmarshal(it["toRecipients"], &to)
		if len(to) != 1 || to[0].EmailAddress.Address != b.srv.Users()[0].UserPrincipalName {
			t.Errorf("message %d: toRecipients %s", i, it["toRecipients"])
		}
		if string(it["isRead"]) == "true" {
			read++
		}
		rt, err := time.Parse(graphTime, str(it, "receivedDateTime"))
		if err != nil || rt.After(newestStored) {
			t.Errorf("message %d: receivedDateTime %s is not older than the stored messages", i, it["receivedDateTime"])
		}
		if i > 0 && rt.After(prev.Add(2*time.Hour)) {
			t.Errorf("message %d received %s after message %d (%s): not newest first", i, rt, i-1, prev)
		}
		prev = rt
		stored[str(it, "subject")] = true
	}
	if big == 0 || big > n/100 || small < n/10 || len(stored) < n/20 || read < n/2 || read > n*5/6 {
		t.Errorf("unrealistic mix: %d huge bodies, %d small, %d distinct subjects, %d read of %d", big, small, len(stored), read, n)
	}

	// Skip tokens carry the position: a page fetched again is the same.
	again := lazyRound(t, b, tok, pages[2].p.NextLink, "Prefer", "odata.maxpagesize=1000")
	if len(again) != 2 || !bytes.Equal(again[0].raw[:bytes.Index(again[0].raw, []byte(`"@odata.nextLink"`))],
		pages[3].raw[:bytes.Index(pages[3].raw, []byte(`"@odata.nextLink"`))]) {
		t.Errorf("following page 3's nextLink again gave %d pages / different items", len(again))
	}

	// The other user has no lazy folder; the first has its stored messages too.
	other, err := b.srv.Truth(b.srv.Users()[1].ID, "messages")
	if err != nil || len(other) != 60 {
		t.Errorf("second user: %d messages (%v), want 60", len(other), err)
	}
	folders, _ := b.srv.Truth(b.srv.Users()[1].ID, "mailFolders")
	for _, f := range folders {
		if bytes.Contains(f, []byte(lazyFolderName)) {
			t.Errorf("second user has a lazy folder: %s", f)
		}
	}
	if mine, _ := b.srv.Truth(user, "messages"); len(mine) != n+60 {
		t.Errorf("first user: %d messages in the truth, want %d", len(mine), n+60)
	}

	// Nothing in the next round, before and after mutations.
	for _, mutate := range []int{0, 400} {
		if what := b.srv.Mutate(mutate); mutate > 0 && !slices.ContainsFunc(what, func(s string) bool { return strings.HasPrefix(s, "message moved") }) {
			t.Fatalf("mutations moved no message: %v", what)
		}
		idle := lazyRound(t, b, tok, pages[len(pages)-1].p.DeltaLink, "Prefer", "odata.maxpagesize=1000")
		if len(idle) != 1 || len(idle[0].p.Value) != 0 || idle[0].p.DeltaLink == "" {
			t.Fatalf("round after %d mutations: %d pages, %.300s", mutate, len(idle), idle[0].raw)
		}
	}
	// The mailbox as a whole still converges on the truth, which holds the
	// lazy messages; the folder's counts did not move.
	c := newMailClient(b, tok, user, "Prefer", "odata.maxpagesize=1000")
	c.sync(t)
	truth, err := b.srv.Truth(user, "messages")
	if err != nil {
		t.Fatal(err)
	}
	if len(truth) != len(c.msgs) || len(truth) < n {
		t.Errorf("truth has %d messages, the client %d", len(truth), len(c.msgs))
	}
	equalTruth(t, "messages", c.msgs, truth)
	lazyFolderID(t, b, tok, user, n)
}

// Lazy messages are the same for the same seed and differ for another;
// immutable ids, $select, $filter and Get work on them as on stored ones.
// https://learn.microsoft.com/en-us/graph/outlook-immutable-id
// https://learn.microsoft.com/en-us/graph/api/message-delta
func TestLazyArchiveContent(t *testing.T) {
	t.Parallel()
	cfg := Config{Seed: 9, Users: 1, MessagesPerUser: 10, LazyMessages: 1200}
	firstPage := func(cfg Config) (*bundle, string, string, []byte) {
		b := setup(t, cfg)
		tok := b.appToken(t)
		user := b.srv.Users()[0].ID
		fid := lazyFolderID(t, b, tok, user, cfg.LazyMessages)
		_, body := b.get(t, tok, "/v1.0/users/"+user+"/mailFolders/"+fid+"/messages/delta", "Prefer", "odata.maxpagesize=300")
		return b, tok, "/v1.0/users/" + user + "/mailFolders/" + fid + "/messages/delta", body
	}
	items := func(body []byte) []byte { // the value array, without links
		return body[:bytes.LastIndex(body, []byte(`],"@odata.`))]
	}
	b, tok, start, one := firstPage(cfg)
	_, _, _, two := firstPage(cfg)
	if !bytes.Equal(items(one), items(two)) {
		t.Error("the same seed served different lazy messages")
	}
	cfg.Seed = 10
	_, _, _, other := firstPage(cfg)
	if bytes.Equal(items(one), items(other)) {
		t.Error("another seed served the same lazy messages")
	}

	user := b.srv.Users()[0].ID
	hdr := []string{"Prefer", "odata.maxpagesize=1000", "Prefer", `IdType="ImmutableId"`}
	pages := lazyRound(t, b, tok, start, hdr...)
	var dflt page
	_ = json.Unmarshal(one, &dflt)
	imm := pages[0].p.Value
	if len(pages) != 2 || len(imm) != 1000 || len(pages[1].p.Value) != 200 {
		t.Fatalf("immutable-id round: %d pages", len(pages))
	}
	for i := range 300 {
		d, m := str(dflt.Value[i], "id"), str(imm[i], "id")
		if !strings.HasPrefix(m, "AAkALg") || d == m || str(dflt.Value[i], "subject") != str(imm[i], "subject") {
			t.Fatalf("message %d: default id %s, immutable %s", i, d, m)
		}
		if i%50 != 0 {
			continue
		}
		for _, id := range []string{d, m} {
			resp, body := b.get(t, tok, "/v1.0/users/"+user+"/messages/"+url.PathEscape(id)+"?$select=subject,isRead")
			var got map[string]json.RawMessage
			if resp.StatusCode != 200 || json.Unmarshal(body, &got) != nil || str(got, "id") != d ||
				str(got, "subject") != str(dflt.Value[i], "subject") || got["body"] != nil {
				t.Errorf("GET message %s: %d %.300s", id, resp.StatusCode, body)
			}
		}
	}
	if resp, _ := b.get(t, tok, "/v1.0/users/"+user+"/messages/"+outlookID("AAMkAG", 12345, 1)); resp.StatusCode != 404 {
		t.Errorf("GET an unknown id: %d", resp.StatusCode)
	}

	// $select keeps id and the annotations.
	sel := lazyRound(t, b, tok, start+"?$select=subject,receivedDateTime", "Prefer", "odata.maxpagesize=1000")
	if n := len(sel[0].p.Value) + len(sel[1].p.Value); n != 1200 {
		t.Errorf("$select round: %d messages", n)
	}
	if k := slices.Sorted(maps.Keys(sel[1].p.Value[0])); !slices.Equal(k, []string{"@odata.etag", "@odata.type", "id", "receivedDateTime", "subject"}) {
		t.Errorf("$select=subject,receivedDateTime served %v", k)
	}
	// $filter on receivedDateTime sees the lazy messages' dates.
	since := str(dflt.Value[99], "receivedDateTime")
	want := 0
	for _, it := range slices.Concat(pages[0].p.Value, pages[1].p.Value) {
		if str(it, "receivedDateTime") >= since {
			want++
		}
	}
	flt := lazyRound(t, b, tok, start+"?$filter="+url.QueryEscape("receivedDateTime ge "+since), "Prefer", "odata.maxpagesize=1000")
	if got := len(flt[0].p.Value); len(flt) != 1 || got != want || want < 100 {
		t.Errorf("$filter receivedDateTime ge %s: %d messages, want %d", since, got, want)
	}

	// An item injected into the folder follows the lazy ones in an initial
	// round and is the only item of the next round.
	delta := pages[1].p.DeltaLink
	if err := b.srv.InjectRaw(user, str(dflt.Value[0], "parentFolderId"), []byte(`{"id":"injected-1","subject":"x"}`)); err != nil {
		t.Fatal(err)
	}
	next := lazyRound(t, b, tok, delta, hdr...)
	if len(next) != 1 || len(next[0].p.Value) != 1 || str(next[0].p.Value[0], "id") != "injected-1" {
		t.Errorf("round after an injection: %.300s", next[0].raw)
	}
	all := lazyRound(t, b, tok, start, hdr...)
	if len(all) != 2 || len(all[1].p.Value) != 201 || str(all[1].p.Value[200], "id") != "injected-1" {
		t.Errorf("initial round after an injection: %d pages", len(all))
	}
}

// A million lazy messages cost little memory and a page deep inside them
// is served as fast as the first.
func TestLazyArchiveMillion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a million-message mailbox")
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b := setup(t, Config{Seed: 2, Users: 1, MessagesPerUser: 10, LazyMessages: 1_000_000})
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 64<<20 {
		t.Errorf("the emulator holds %d MB for a million lazy messages", grew>>20)
	}
	tok := b.appToken(t)
	user := b.srv.Users()[0].ID
	fid := lazyFolderID(t, b, tok, user, 1_000_000)
	// Jump to the last page: a skip token is a position in the folder's log.
	em := b.srv.Emulator
	key := "m/" + user + "/" + fid
	em.mu.RLock()
	snap := em.version
	em.mu.RUnlock()
	skip := em.sealToken(cursorToken{Key: key, Snap: snap, Cursor: 999_500, Gen: em.currentGen(), Issued: time.Now().Unix()})
	pages := lazyRound(t, b, tok, "/v1.0/users/"+user+"/mailFolders/"+fid+"/messages/delta?$skiptoken="+skip, "Prefer", "odata.maxpagesize=1000")
	if len(pages) != 1 || len(pages[0].p.Value) != 500 || pages[0].p.DeltaLink == "" {
		t.Fatalf("from position 999,500: %d pages, %d items", len(pages), len(pages[0].p.Value))
	}
	last := pages[0].p.Value[499]
	em.mu.RLock()
	i, ok := em.users[0].mail.lazy.find(str(last, "id"))
	em.mu.RUnlock()
	if !ok || i != 999_999 {
		t.Errorf("the last message's id leads to %d, %v", i, ok)
	}
}

func TestMix64Inverse(t *testing.T) {
	for _, x := range []uint64{0, 1, 2, 1 << 63, 0xdeadbeefcafebabe, ^uint64(0)} {
		if unmix64(mix64(x)) != x {
			t.Errorf("unmix64(mix64(%#x)) = %#x", x, unmix64(mix64(x)))
		}
	}
}
