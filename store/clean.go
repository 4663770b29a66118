package store

import (
	"bytes"
	"strings"
	"unicode/utf8"

	"github.com/graphsync/graphsync/internal/jsonscan"
)

// CleanText makes s storable in a PostgreSQL text column, deterministically:
// NUL characters are dropped and invalid UTF-8 becomes U+FFFD.
func CleanText(s string) string {
	if strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}

// CleanJSON makes a JSON document storable as jsonb, deterministically and
// with the same rules as CleanText: the \u0000 escape is dropped, unpaired
// surrogate escapes and invalid UTF-8 become U+FFFD. Valid input is returned
// as is, without copying.
func CleanJSON(b []byte) []byte {
	if utf8.Valid(b) && !hasBadEscape(b) {
		return b
	}
	out := make([]byte, 0, len(b))
	inString := false
	for i := 0; i < len(b); {
		c := b[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size <= 1 {
				out = append(out, "\uFFFD"...)
				i++
				continue
			}
			out = append(out, b[i:i+size]...)
			i += size
			continue
		}
		if !inString {
			if c == '"' {
				inString = true
			}
			out = append(out, c)
			i++
			continue
		}
		switch c {
		case '"':
			inString = false
			out = append(out, c)
			i++
		case '\\':
			if i+1 >= len(b) {
				out = append(out, c)
				i++
				continue
			}
			if b[i+1] != 'u' || i+6 > len(b) {
				out = append(out, b[i], b[i+1])
				i += 2
				continue
			}
			v, ok := jsonscan.Hex4(b[i+2 : i+6])
			switch {
			case !ok:
				out = append(out, b[i:i+6]...)
				i += 6
			case v == 0:
				i += 6 // drop NUL
			case v >= 0xD800 && v <= 0xDBFF:
				if i+12 <= len(b) && b[i+6] == '\\' && b[i+7] == 'u' {
					if lo, ok := jsonscan.Hex4(b[i+8 : i+12]); ok && lo >= 0xDC00 && lo <= 0xDFFF {
						out = append(out, b[i:i+12]...)
						i += 12
						continue
					}
				}
				out = append(out, `\ufffd`...)
				i += 6
			case v >= 0xDC00 && v <= 0xDFFF:
				out = append(out, `\ufffd`...)
				i += 6
			default:
				out = append(out, b[i:i+6]...)
				i += 6
			}
		default:
			out = append(out, c)
			i++
		}
	}
	return out
}

// hasBadEscape reports whether b may hold a \u escape jsonb refuses (NUL or a
// surrogate); a cheap over-approximation that sends such input to the slow
// path. bytes.Index finds the few escapes without a look at every byte.
func hasBadEscape(b []byte) bool {
	for {
		i := bytes.Index(b, []byte(`\u`))
		if i < 0 || i+6 > len(b) {
			return false
		}
		if e := b[i+2 : i+6]; string(e) == "0000" || ((e[0] == 'd' || e[0] == 'D') && e[1] >= '8') {
			return true
		}
		b = b[i+2:]
	}
}
