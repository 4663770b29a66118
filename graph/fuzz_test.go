package graph

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/jsonscan"
	"github.com/graphsync/graphsync/internal/origin"
)

// Fuzz targets for what the client reads from Graph: the page parser and
// the links it follows. Seeds live in testdata/fuzz/<target>; `make fuzz`
// runs each target for a bounded time.

// FuzzSplitPage: the page parser never panics, agrees with encoding/json on
// every valid page, and refuses what encoding/json refuses (except nesting
// beyond its limit).
func FuzzSplitPage(f *testing.F) {
	for _, s := range []string{
		`{"value":[]}`,
		`{"@odata.context":"x","value":[{"id":"a"},{"id":"b"}],"@odata.nextLink":"https://graph.microsoft.com/v1.0/me/delta?$skiptoken=a"}`,
		`{"value":[{"id":"a"}],"@odata.deltaLink":"https://graph.microsoft.com/v1.0/me/delta?$deltatoken=b\u0026c"}`,
		`{"value":[1],"value":2}`,
		`{"@odata.nextLink":"a","@odata.nextLink":null,"value":[]}`,
		`{"@odata.nextLink":5,"value":[]}`,
		`{"val\u0075e":[{"id":"escaped key"}]}`,
		`{"value":[{"id":"a\"],}{"}]}`,
		`{"value":[` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `,{"id":"ok"}]}`,
		`{"value":[{"id":"a"}`, `[]`, `{}`, `{"value":null}`, " \t\n{\"value\" : [ 1 , 2 ] } ",
		"{\"value\":[\"\x00\"]}", "{\"value\":[\"\xff\"]}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		pb, err := splitPage(body)
		if !json.Valid(body) {
			if err == nil && !jsonscan.ValidDeep(body) {
				t.Fatalf("accepted invalid JSON %q", body)
			}
			return
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(body, &m) != nil {
			if err == nil {
				t.Fatalf("accepted %q, which is not a JSON object", body)
			}
			return
		}
		var want []json.RawMessage
		if v, ok := m["value"]; ok && len(v) > 0 && v[0] == '[' {
			if uerr := json.Unmarshal(v, &want); uerr != nil {
				t.Fatal(uerr)
			}
		}
		if want == nil {
			if err == nil {
				t.Fatalf("accepted %q, which has no value array", body)
			}
			return
		}
		if err != nil {
			t.Fatalf("refused %q: %v", body, err)
		}
		if len(pb.Value) != len(want) {
			t.Fatalf("%d items, encoding/json finds %d in %q", len(pb.Value), len(want), body)
		}
		for i := range want {
			if !bytes.Equal(pb.Value[i], want[i]) {
				t.Fatalf("item %d = %q, encoding/json reads %q", i, pb.Value[i], want[i])
			}
		}
		for key, got := range map[string]string{"@odata.nextLink": pb.NextLink, "@odata.deltaLink": pb.DeltaLink} {
			var s string
			if v, ok := m[key]; ok && json.Unmarshal(v, &s) != nil {
				s = ""
			}
			if got != s {
				t.Fatalf("%s = %q, encoding/json reads %q", key, got, s)
			}
		}
	})
}

// FuzzValidDeep: the depth-unlimited validator agrees with encoding/json on
// everything within encoding/json's nesting limit.
func FuzzValidDeep(f *testing.F) {
	for _, s := range []string{`{}`, `[1,-0.5e+3,"a\u00e9",true,false,null,{"k":[]}]`, `01`, `1.`, `-`, `"\x"`, `{"a" 1}`, `[1,]`, `{"a":1,}`, " 1 ", "\"\x1f\"", "\"\xff\"", `"\u12G4"`,
		// Long strings, read eight bytes at a time: a quote, backslash or
		// control character at each offset of a word.
		`["0123456789abcdef\"0123456789"]`, `"0123456\\789abcdef"`, "\"01234567\x0189abcdef\"", `"0123456789abcde\u00e9f"`,
		`"01234567\"`, "\"é0123456789abcdef\xffé\"", `{"0123456789abcdef":"0123456789abcdef"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if bytes.Count(b, []byte("["))+bytes.Count(b, []byte("{")) > 9000 {
			return
		}
		if got, want := jsonscan.ValidDeep(b), json.Valid(b); got != want {
			t.Fatalf("jsonscan.ValidDeep(%q) = %t, encoding/json says %t", b, got, want)
		}
	})
}

// FuzzResolve: whatever link a page or a stored checkpoint carries, the
// client sends its bearer token only to the configured Graph origin.
func FuzzResolve(f *testing.F) {
	for _, s := range []string{
		"/me/mailFolders/delta",
		"me/messages",
		"/v1.0/me/events",
		"https://graph.microsoft.com/v1.0/me/mailFolders/delta?$skiptoken=abc",
		"https://evil.example/v1.0/me?$deltatoken=x",
		"https://graph.microsoft.com@evil.example/v1.0/me",
		"https://user:pw@graph.microsoft.com/v1.0/me",
		"http://graph.microsoft.com/v1.0/me",
		"https://GRAPH.microsoft.com/v1.0/me",
		"https://graph.microsoft.com:443/v1.0/me",
		"https://graph.microsoft.com.evil.example/v1.0/me",
		"//evil.example/v1.0/me",
		"/\\evil.example",
		"https:\\\\evil.example",
		"https://graph.microsoft.com%2f@evil.example/",
		"https://graph.microsoft.com\t.evil/",
		"https://[::1]/",
		"/me/delta?$deltatoken=secret%zz",
		"",
	} {
		f.Add(s)
	}
	c, err := NewClient(Config{BaseURL: "https://graph.microsoft.com"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, link string) {
		u, err := c.resolve(link)
		if err != nil {
			if _, query, ok := strings.Cut(link, "?"); ok && len(query) > 3 && strings.Contains(err.Error(), query) {
				t.Fatalf("error repeats the link's query: %v", err)
			}
			return
		}
		// Same origin: the host may name the scheme's default port.
		if origin.Of(u) != "https://graph.microsoft.com" || u.User != nil {
			t.Fatalf("link %q resolves to %s://%s (user %v), not the Graph origin", link, u.Scheme, u.Host, u.User)
		}
		again, err := url.Parse(u.String())
		if err != nil || origin.Of(again) != "https://graph.microsoft.com" {
			t.Fatalf("link %q re-parses to host %v (%v)", link, again, err)
		}
	})
}

// A record nested beyond encoding/json's limit fails on its own, not its page.
func TestSplitPageDeepItem(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000)
	body := []byte(`{"value":[{"id":"before"},` + deep + `,{"id":"after"}],"@odata.deltaLink":"https://g/d"}`)
	pb, err := splitPage(body)
	if err != nil {
		t.Fatalf("page refused: %v", err)
	}
	if len(pb.Value) != 3 || string(pb.Value[0]) != `{"id":"before"}` || string(pb.Value[2]) != `{"id":"after"}` || len(pb.Value[1]) != len(deep) {
		t.Fatalf("items %d, want before, the deep one and after", len(pb.Value))
	}
	if pb.DeltaLink != "https://g/d" {
		t.Fatalf("deltaLink %q", pb.DeltaLink)
	}
	if _, err := graphsync.DecodeMessage(pb.Value[1]); err == nil {
		t.Fatal("the deep record decoded")
	}
	if _, err := splitPage([]byte(`{"value":[` + deep[:len(deep)-1] + `]}`)); err == nil {
		t.Fatal("unbalanced deep page accepted")
	}
}
