// Package secretscan looks for known secret values — access tokens, refresh
// tokens, client secrets — in text such as logs, database dumps and metrics,
// in the forms a leak is likely to take: verbatim, URL-encoded, JSON-escaped,
// base64-encoded, or cut short.
package secretscan

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
)

// minLen is the shortest secret scanned for; shorter values would match by
// chance.
const minLen = 8

// tailLen is how much of a long secret's end is looked for on its own, to
// catch a token cut short by a log line. The end rather than the start,
// since tokens of one issuer share their first bytes (a JWT's header).
const tailLen = 24

// Finding is one occurrence of a secret. It never holds the secret itself.
type Finding struct {
	Source string // what was scanned, e.g. "pg_dump"
	Secret int    // index of the secret in the list scanned for
	Form   string // verbatim, url, json, base64, tail
	Offset int    // byte offset in the scanned text
	Hint   string // the secret's first bytes and length, to recognise it
}

func (f Finding) String() string {
	return fmt.Sprintf("%s: secret #%d (%s) found %s at byte %d", f.Source, f.Secret, f.Hint, f.Form, f.Offset)
}

// Scan returns every secret found in text, at most one finding per secret.
func Scan(source string, text []byte, secrets []string) []Finding {
	var out []Finding
	for i, s := range secrets {
		if len(s) < minLen {
			continue
		}
		for _, f := range forms(s) {
			if off := bytes.Index(text, []byte(f.value)); off >= 0 {
				out = append(out, Finding{Source: source, Secret: i, Form: f.name, Offset: off, Hint: hint(s)})
				break
			}
		}
	}
	return out
}

type form struct{ name, value string }

func forms(s string) []form {
	fs := []form{{"verbatim", s}}
	add := func(name, v string) {
		for _, f := range fs {
			if f.value == v {
				return
			}
		}
		fs = append(fs, form{name, v})
	}
	add("url", url.QueryEscape(s))
	if b, err := json.Marshal(s); err == nil {
		add("json", string(b[1:len(b)-1]))
	}
	add("base64", base64.StdEncoding.EncodeToString([]byte(s)))
	add("base64", base64.RawURLEncoding.EncodeToString([]byte(s)))
	if len(s) >= 2*tailLen {
		add("tail", s[len(s)-tailLen:])
	}
	return fs
}

func hint(s string) string {
	return fmt.Sprintf("%.4s…, %d bytes", s, len(s))
}

// linkToken matches where Graph puts skip and delta tokens in a link, in
// the forms a leak takes (as written, URL-encoded, JSON-escaped): the
// $skiptoken, $deltatoken and token query parameters, and OneDrive's
// function argument delta(token='...'). A redacted link keeps none of them.
var linkToken = regexp.MustCompile(`(?i)(\$|%24)(skip|delta)token(=|%3d)[^&\s"'<>]|[?&](token|%3ftoken|%26token)(=|%3d)[^&\s"'<>]|(\(|%28)token(=|%3d)`)

// Links returns every place in text where a link carries a sync token.
func Links(source string, text []byte) []Finding {
	var out []Finding
	for _, m := range linkToken.FindAllIndex(text, 20) {
		// The hint shows where the token starts, none of it.
		at := text[m[0]:m[1]]
		if i := bytes.LastIndexAny(at, "=dD"); i >= 0 {
			at = at[:i+1]
		}
		out = append(out, Finding{Source: source, Secret: -1, Form: "link token", Offset: m[0], Hint: string(at) + "…"})
	}
	return out
}
