// Package jsonscan walks JSON without decoding it: a Graph page is
// validated and cut into items in one walk (Scan), then items are scanned
// for a few members, which encoding/json would do by copying every byte again.
package jsonscan

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
)

// skipSpace returns the index of the first non-space byte at or after i.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the end of the value starting at b[i], which must be
// valid JSON.
func skipValue(b []byte, i int) int {
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
	return each(b, '{', '}', func(i int) int {
		if b[i] != '"' {
			return -1
		}
		kEnd := skipValue(b, i)
		c := skipSpace(b, kEnd)
		if c >= len(b) || b[c] != ':' {
			return -1
		}
		v := skipSpace(b, c+1)
		vEnd := skipValue(b, v)
		if v >= len(b) || vEnd > len(b) || !fn(b[i:kEnd], b[v:vEnd]) {
			return -1
		}
		return vEnd
	})
}

// Elements calls fn with each element of the JSON array b, as written,
// until fn returns false. Like Members it assumes valid JSON and never reads
// past b: ok is false when b is not an array or fn stopped.
func Elements(b []byte, fn func(elem []byte) bool) (ok bool) {
	return each(b, '[', ']', func(i int) int {
		end := skipValue(b, i)
		if end > len(b) || end == i || !fn(b[i:end]) {
			return -1
		}
		return end
	})
}

// each walks the container b, opened by open and closed by close, calling
// item where each member or element starts; item returns where it ends,
// or -1 to stop the walk, which then reports false.
func each(b []byte, open, close byte, item func(i int) int) bool {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != open {
		return false
	}
	i++
	for {
		i = skipSpace(b, i)
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case close:
			return true
		case ',':
			i++
			continue
		}
		if i = item(i); i < 0 {
			return false
		}
	}
}

// MaxDepth is encoding/json's limit on nesting: it refuses deeper values.
const MaxDepth = 10000

// TooDeep reports whether the valid JSON value b nests objects and arrays
// deeper than MaxDepth. Values too short to nest that deep are answered
// without a look.
func TooDeep(b []byte) bool {
	if len(b) <= 2*MaxDepth {
		return false
	}
	depth := 0
	for i := 0; i < len(b); {
		switch b[i] {
		case '"':
			i = skipString(b, i)
			continue
		case '{', '[':
			if depth++; depth > MaxDepth {
				return true
			}
		case '}', ']':
			depth--
		}
		i++
	}
	return false
}

// Hex4 reads the four hex digits of a \u escape at the start of b.
func Hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		r <<= 4
		switch {
		case '0' <= c && c <= '9':
			r |= rune(c - '0')
		case 'a' <= c && c <= 'f':
			r |= rune(c-'a') + 10
		case 'A' <= c && c <= 'F':
			r |= rune(c-'A') + 10
		default:
			return 0, false
		}
	}
	return r, true
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
	s := scanner{b: b}
	return s.run()
}

// Member is a member of a JSON object: its key quoted as written, its value
// as written and, when the value is an array, the array's elements.
type Member struct {
	Key, Value []byte
	Elems      []json.RawMessage
}

// Scan validates b as ValidDeep does and, in the same walk, cuts the object
// b holds into its members and the arrays among their values into their
// elements: a Graph page is read once, not validated then split. members is
// nil when b is valid but not an object.
func Scan(b []byte) (members []Member, ok bool) {
	s := scanner{b: b, collect: true}
	if !s.run() {
		return nil, false
	}
	return s.members, true
}

// scanner is one walk over a JSON value. Strings, most of a page's bytes,
// are skipped eight bytes at a time while none of them needs a look.
type scanner struct {
	b       []byte
	stack   []byte // '{' or '[' per open container
	collect bool   // record the top-level object's members and their arrays' elements
	members []Member
	key     []byte // the top-level member being read
	valAt   int    // where its value starts
	elems   []json.RawMessage
	elemAt  int
}

func (s *scanner) run() bool {
	b := s.b
	i := skipSpace(b, 0)
	for {
		// A value starts at b[i].
		if i >= len(b) {
			return false
		}
		if s.collect {
			s.begin(i)
		}
		switch c := b[i]; {
		case c == '{' || c == '[':
			end := byte('}')
			if c == '[' {
				end = ']'
			}
			i = skipSpace(b, i+1)
			if i < len(b) && b[i] == end {
				i++
				break
			}
			s.stack = append(s.stack, c)
			if c == '{' {
				if i = s.objectKey(i); i < 0 {
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
			if s.collect {
				s.end(i)
			}
			i = skipSpace(b, i)
			if len(s.stack) == 0 {
				return i == len(b)
			}
			if i >= len(b) {
				return false
			}
			top := s.stack[len(s.stack)-1]
			if b[i] == ',' {
				i = skipSpace(b, i+1)
				if top == '{' {
					if i = s.objectKey(i); i < 0 {
						return false
					}
				}
				break
			}
			if (top == '{' && b[i] == '}') || (top == '[' && b[i] == ']') {
				s.stack = s.stack[:len(s.stack)-1]
				i++
				continue
			}
			return false
		}
	}
}

// begin notes a value starting at i: a top-level member's, or an element
// of an array that is one.
func (s *scanner) begin(i int) {
	switch {
	case len(s.stack) == 1 && s.stack[0] == '{':
		s.valAt, s.elems = i, nil
	case len(s.stack) == 2 && s.stack[0] == '{' && s.stack[1] == '[':
		s.elemAt = i
	}
}

// end notes a value ending at i, at the depth the stack now has.
func (s *scanner) end(i int) {
	switch {
	case len(s.stack) == 1 && s.stack[0] == '{':
		m := Member{Key: s.key, Value: s.b[s.valAt:i:i]}
		if m.Value[0] == '[' {
			m.Elems = s.elems
			if m.Elems == nil {
				m.Elems = []json.RawMessage{}
			}
		}
		s.members = append(s.members, m)
		s.elems = nil
	case len(s.stack) == 2 && s.stack[0] == '{' && s.stack[1] == '[':
		if s.elems == nil {
			s.elems = make([]json.RawMessage, 0, 64)
		}
		s.elems = append(s.elems, s.b[s.elemAt:i:i])
	}
}

// objectKey reads `"key" :` at b[i] and returns where the value starts, or -1.
func (s *scanner) objectKey(i int) int {
	b := s.b
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	k := i
	if i = scanString(b, i); i < 0 {
		return -1
	}
	if s.collect && len(s.stack) == 1 {
		s.key = b[k:i:i]
	}
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != ':' {
		return -1
	}
	return skipSpace(b, i+1)
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// plain reports whether none of the eight bytes in x is a quote, a
// backslash or a control character: a string goes on past all of them.
func plain(x uint64) bool {
	q := x ^ ('"' * ones)
	e := x ^ ('\\' * ones)
	return ((q-ones)&^q|(e-ones)&^e|(x-0x20*ones)&^x)&highs == 0
}

// scanString checks the string at b[i] and returns its end, or -1.
func scanString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		for i+8 <= len(b) && plain(binary.LittleEndian.Uint64(b[i:])) {
			i += 8
		}
		if i >= len(b) {
			break
		}
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
