// Package jsonscan walks JSON that is known to be valid without decoding
// it: Graph pages are validated once, then cut into items and scanned for a
// few members, which encoding/json would do by copying every byte again.
package jsonscan

import (
	"bytes"
	"encoding/json"
)

// SplitArray returns the elements of a valid JSON array.
func SplitArray(b []byte) []json.RawMessage {
	items := make([]json.RawMessage, 0, 64)
	i := 1
	for {
		i = SkipSpace(b, i)
		if i >= len(b) || b[i] == ']' {
			return items
		}
		if b[i] == ',' {
			i++
			continue
		}
		end := SkipValue(b, i)
		items = append(items, json.RawMessage(b[i:end:end]))
		i = end
	}
}

// SkipSpace returns the index of the first non-space byte at or after i.
func SkipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// SkipValue returns the end of the value starting at b[i], which must be
// valid JSON.
func SkipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	default:
		for i < len(b) {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
			i++
		}
		return i
	}
}

// Members calls fn with each member of the JSON object b, its key quoted as
// written and its value as written, until fn returns false. It assumes
// valid JSON, as Page items are, but never reads past b: ok is false when b
// is not an object or fn stopped.
func Members(b []byte, fn func(key, val []byte) bool) (ok bool) {
	i := SkipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i++
	for {
		i = SkipSpace(b, i)
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case '}':
			return true
		case ',':
			i++
			continue
		case '"':
		default:
			return false
		}
		kEnd := SkipValue(b, i)
		c := SkipSpace(b, kEnd)
		if c >= len(b) || b[c] != ':' {
			return false
		}
		v := SkipSpace(b, c+1)
		vEnd := SkipValue(b, v)
		if v >= len(b) || vEnd > len(b) {
			return false
		}
		if !fn(b[i:kEnd], b[v:vEnd]) {
			return false
		}
		i = vEnd
	}
}

// skipString returns the end of the string starting at b[i]. It looks for
// quotes only (bytes.IndexByte is vectorised, bodies are long) and counts
// the backslashes before each: an odd number escapes it.
func skipString(b []byte, i int) int {
	i++
	for i < len(b) {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return len(b)
		}
		q := i + j
		n := 0
		for k := q - 1; k >= i && b[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return q + 1
		}
		i = q + 1
	}
	return i
}

// ValidDeep reports whether b is one valid JSON value, by the rules of
// encoding/json (which does not check UTF-8 either) but without its nesting
// limit: the depth is a byte stack, so no input can exhaust the goroutine's.
func ValidDeep(b []byte) bool {
	var stack []byte // '{' or '[' per open container
	i := SkipSpace(b, 0)
	for {
		// A value starts at b[i].
		if i >= len(b) {
			return false
		}
		switch c := b[i]; {
		case c == '{' || c == '[':
			end := byte('}')
			if c == '[' {
				end = ']'
			}
			i = SkipSpace(b, i+1)
			if i < len(b) && b[i] == end {
				i++
				break
			}
			stack = append(stack, c)
			if c == '{' {
				if i = objectKey(b, i); i < 0 {
					return false
				}
			}
			continue
		case c == '"':
			if i = scanString(b, i); i < 0 {
				return false
			}
		case c == '-' || (c >= '0' && c <= '9'):
			if i = scanNumber(b, i); i < 0 {
				return false
			}
		case c == 't' && bytes.HasPrefix(b[i:], []byte("true")):
			i += 4
		case c == 'f' && bytes.HasPrefix(b[i:], []byte("false")):
			i += 5
		case c == 'n' && bytes.HasPrefix(b[i:], []byte("null")):
			i += 4
		default:
			return false
		}
		// After a value: close containers, or find the next value.
		for {
			i = SkipSpace(b, i)
			if len(stack) == 0 {
				return i == len(b)
			}
			if i >= len(b) {
				return false
			}
			top := stack[len(stack)-1]
			if b[i] == ',' {
				i = SkipSpace(b, i+1)
				if top == '{' {
					if i = objectKey(b, i); i < 0 {
						return false
					}
				}
				break
			}
			if (top == '{' && b[i] == '}') || (top == '[' && b[i] == ']') {
				stack = stack[:len(stack)-1]
				i++
				continue
			}
			return false
		}
	}
}

// objectKey reads `"key" :` at b[i] and returns where the value starts, or -1.
func objectKey(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	if i = scanString(b, i); i < 0 {
		return -1
	}
	i = SkipSpace(b, i)
	if i >= len(b) || b[i] != ':' {
		return -1
	}
	return SkipSpace(b, i+1)
}

// scanString checks the string at b[i] and returns its end, or -1.
func scanString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1
		case c < 0x20:
			return -1
		case c == '\\':
			i++
			if i >= len(b) {
				return -1
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) {
					return -1
				}
				for _, h := range b[i+1 : i+5] {
					if !isHex(h) {
						return -1
					}
				}
				i += 4
			default:
				return -1
			}
		}
	}
	return -1
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// scanNumber checks the number at b[i] and returns its end, or -1.
func scanNumber(b []byte, i int) int {
	digits := func(i int) int {
		j := i
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		return j
	}
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(i)
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		j := digits(i + 1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}
