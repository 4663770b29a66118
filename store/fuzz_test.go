package store_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/graphsync/graphsync/internal/pgtest"
	"github.com/graphsync/graphsync/store"
)

// FuzzCleanText: the output is valid UTF-8 without NUL, cleaning twice
// changes nothing more, and clean input comes back unchanged.
func FuzzCleanText(f *testing.F) {
	for _, s := range []string{"", "plain", "nul\x00", "bad \xff\xfe utf8", "é😀", "\xed\xa0\x80 encoded surrogate", "\x00\x00", "a\xc3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := store.CleanText(s)
		if !utf8.ValidString(out) || strings.IndexByte(out, 0) >= 0 {
			t.Fatalf("CleanText(%q) = %q: invalid UTF-8 or NUL", s, out)
		}
		if again := store.CleanText(out); again != out {
			t.Fatalf("CleanText not idempotent: %q -> %q -> %q", s, out, again)
		}
		if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 && out != s {
			t.Fatalf("clean input %q changed to %q", s, out)
		}
	})
}

// FuzzCleanJSON: for any valid JSON document, the output is valid JSON and
// UTF-8 with no \u0000 and no unpaired surrogate escape, means the same as
// the input except for the cleaned characters, is a fixed point, and is
// accepted by PostgreSQL as jsonb.
func FuzzCleanJSON(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"a":"plain"}`, `{"a":"nul\u0000"}`, `{"a":"lone \ud800 x"}`, `{"a":"low \udc00"}`,
		`{"a":"pair \ud83d\ude00"}`, `{"a":"hi hi \ud800\ud800\udc00"}`, `{"a":"\\u0000 is text"}`,
		`{"\u0000key":"\ud800"}`, `["\u0000", "\uD800", 1, true, null]`, "{\"a\":\"bad \xff\"}",
		`{"a":"\\\u0000"}`, `"\ud800\u0000"`, `{"a":"\udbff\udfff"}`,
	} {
		f.Add([]byte(s))
	}
	pool := pgtest.Pool(f, pgtest.ServerURL(f))
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		out := store.CleanJSON(b)
		if !json.Valid(out) || !utf8.Valid(out) {
			t.Fatalf("CleanJSON(%q) = %q: invalid JSON or UTF-8", b, out)
		}
		if bad := badEscape(out); bad != "" {
			t.Fatalf("CleanJSON(%q) = %q still holds %s", b, out, bad)
		}
		if again := store.CleanJSON(out); string(again) != string(out) {
			t.Fatalf("CleanJSON not idempotent: %q -> %q", out, again)
		}
		var before, after any
		_ = json.Unmarshal(b, &before)
		_ = json.Unmarshal(out, &after)
		if !sameModuloCleaning(before, after) {
			t.Fatalf("CleanJSON changed the meaning of %q: %q", b, out)
		}
		var n int
		if err := pool.QueryRow(context.Background(), "SELECT length($1::jsonb::text)", string(out)).Scan(&n); err != nil {
			t.Fatalf("PostgreSQL refuses CleanJSON(%q) = %q: %v", b, out, err)
		}
	})
}

// badEscape walks JSON strings and names the first escape jsonb refuses.
func badEscape(b []byte) string {
	in := false
	for i := 0; i < len(b); i++ {
		switch {
		case !in:
			in = b[i] == '"'
		case b[i] == '"':
			in = false
		case b[i] == '\\' && b[i+1] == 'u':
			v := hexValue(b[i+2 : i+6])
			switch {
			case v == 0:
				return `\u0000`
			case v >= 0xD800 && v <= 0xDBFF:
				if i+12 > len(b) || b[i+6] != '\\' || b[i+7] != 'u' {
					return "a lone high surrogate"
				}
				if lo := hexValue(b[i+8 : i+12]); lo < 0xDC00 || lo > 0xDFFF {
					return "a lone high surrogate"
				}
				i += 11
				continue
			case v >= 0xDC00 && v <= 0xDFFF:
				return "a lone low surrogate"
			}
			i += 5
		case b[i] == '\\':
			i++
		}
	}
	return ""
}

func hexValue(h []byte) int {
	v := 0
	for _, c := range h {
		v <<= 4
		switch {
		case c >= '0' && c <= '9':
			v |= int(c - '0')
		case c >= 'a' && c <= 'f':
			v |= int(c-'a') + 10
		default:
			v |= int(c-'A') + 10
		}
	}
	return v
}

// sameModuloCleaning compares decoded documents with NUL dropped from the
// input's strings (encoding/json already reads lone surrogates as U+FFFD).
func sameModuloCleaning(a, b any) bool {
	switch a := a.(type) {
	case string:
		bs, ok := b.(string)
		return ok && strings.ReplaceAll(a, "\x00", "") == bs
	case []any:
		bb, ok := b.([]any)
		if !ok || len(a) != len(bb) {
			return false
		}
		for i := range a {
			if !sameModuloCleaning(a[i], bb[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok {
			return false
		}
		// Keys that differ only by NUL may collapse into one.
		for k, v := range a {
			w, ok := bm[strings.ReplaceAll(k, "\x00", "")]
			if !ok || !sameModuloCleaning(v, w) && !collapsed(a, k) {
				return false
			}
		}
		return true
	default:
		return a == b
	}
}

func collapsed(m map[string]any, key string) bool {
	clean := strings.ReplaceAll(key, "\x00", "")
	n := 0
	for k := range m {
		if strings.ReplaceAll(k, "\x00", "") == clean {
			n++
		}
	}
	return n > 1
}
