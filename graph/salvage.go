package graph

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
)

// UnreadablePageError is a page that cannot be read whole: its body is
// larger than the 64 MiB a response may have, or it is still not valid
// JSON after the retries (one record with a raw control character spoils
// its whole page). Asking again for the same page changes nothing; asking
// for smaller pages (SmallerPageSize) isolates the culprit, and a page that
// cannot shrink further is read with Call.Salvage.
type UnreadablePageError struct {
	// PageSize is the odata.maxpagesize the request asked for, 0 for none.
	PageSize int
	// Shrinkable says the collection honours odata.maxpagesize.
	Shrinkable bool
	// Size is the body's length when known, -1 otherwise.
	Size      int64
	RequestID string
	Err       error

	method, path string
}

func (e *UnreadablePageError) Error() string {
	return fmt.Sprintf("graph: %s %s: unreadable page (request-id %s): %v", e.method, e.path, e.RequestID, e.Err)
}

func (e *UnreadablePageError) Unwrap() error { return e.Err }

// SmallerPageSize is the page size to ask for next: a tenth of this one's
// (Graph's own default when none was asked for counts as more than one),
// down to one item per page. ok is false when pages cannot get smaller.
func (e *UnreadablePageError) SmallerPageSize() (size int, ok bool) {
	switch {
	case !e.Shrinkable || e.PageSize == 1:
		return 0, false
	case e.PageSize == 0:
		return 1, true
	}
	return max(1, e.PageSize/10), true
}

// Refused is one item of a salvaged page that could not be kept: not valid
// JSON, or too large. Payload holds its bytes as received, or their first
// refusedPayloadBytes when it was too large to keep. Reason completes "the
// record ...".
type Refused struct {
	ID      string // "" when the item had no readable string id
	Reason  string
	Payload []byte
	Size    int64 // the item's length in bytes
}

// refusedPayloadBytes is how much of an item too large to keep is kept as
// its quarantine payload.
const refusedPayloadBytes = 64 << 10

// maxLinkBytes bounds the paging links a salvaged page may carry.
const maxLinkBytes = 64 << 10

// salvage reads a page from r without holding it whole: each item of its
// value array is kept when it is valid JSON and the items kept so far plus
// it fit within budget bytes, and refused otherwise. A raw control
// character inside a string (invalid JSON) does not throw the reader off:
// only the item holding it is refused. The body's structure must be sound
// (an object whose value is an array); anything else is an error.
func salvage(r io.Reader, budget int) (*Page, error) {
	s := &skimmer{r: bufio.NewReaderSize(r, 64<<10)}
	p := &Page{}
	c, err := s.space()
	if err != nil {
		return nil, err
	}
	if c != '{' {
		return nil, &pageError{"response is not a JSON object"}
	}
	sawValue := false
	for {
		key, c, end, err := s.member()
		if err != nil {
			return nil, err
		}
		if end {
			if !sawValue {
				return nil, &pageError{"response has no value array"}
			}
			return p, nil
		}
		switch key {
		case "value":
			if c != '[' {
				return nil, &pageError{"response has no value array"}
			}
			sawValue = true
			p.Items, p.Refused = nil, nil
			if err := s.items(p, budget); err != nil {
				return nil, err
			}
		case "@odata.nextLink", "@odata.deltaLink":
			link := ""
			if c == '"' {
				raw, whole, err := s.str(maxLinkBytes)
				if err != nil {
					return nil, err
				}
				if whole {
					link = unquote(raw)
				}
			} else if err := s.skip(c); err != nil {
				return nil, err
			}
			if key == "@odata.nextLink" {
				p.NextLink = link
			} else {
				p.DeltaLink = link
			}
		default:
			if err := s.skip(c); err != nil {
				return nil, err
			}
		}
	}
}

// items reads the elements of a value array, its '[' already read.
func (s *skimmer) items(p *Page, budget int) error {
	kept := 0
	for {
		c, err := s.space()
		if err != nil {
			return err
		}
		switch c {
		case ']':
			return nil
		case ',':
			continue
		}
		start := s.n - 1
		s.keep, s.over = append(s.keep[:0], c), false
		s.limit = budget - kept
		id, err := s.item(c)
		s.limit = -1
		if err != nil {
			return err
		}
		size := s.n - start
		switch {
		case s.over:
			p.Refused = append(p.Refused, Refused{ID: id, Size: size, Payload: bytes.Clone(s.keep[:min(len(s.keep), refusedPayloadBytes)]),
				Reason: fmt.Sprintf("is too large to keep: its page is over the %d MiB a response may have even at one item per page (its first %d KiB are the payload)",
					maxBodyBytes>>20, refusedPayloadBytes>>10)})
		case !json.Valid(s.keep):
			var v json.RawMessage
			reason := "is not valid JSON"
			if err := json.Unmarshal(s.keep, &v); err != nil {
				reason = "is not valid JSON: " + err.Error()
			}
			p.Refused = append(p.Refused, Refused{ID: id, Size: size, Payload: bytes.Clone(s.keep), Reason: reason})
		default:
			p.Items = append(p.Items, json.RawMessage(bytes.Clone(s.keep)))
			kept += len(s.keep)
		}
	}
}

// item reads one element whose first byte is c, returning its top-level
// string id when it is an object that has one.
func (s *skimmer) item(c byte) (id string, err error) {
	if c != '{' {
		return "", s.skip(c)
	}
	for {
		key, c, end, err := s.member()
		if err != nil || end {
			return id, err
		}
		if c == '"' && key == "id" {
			raw, whole, err := s.str(4096)
			if err != nil {
				return id, err
			}
			if whole {
				id = unquote(raw)
			}
			continue
		}
		if err := s.skip(c); err != nil {
			return id, err
		}
	}
}

// member reads an object's next member up to its value's first byte, c;
// end says the object ended instead.
func (s *skimmer) member() (key string, c byte, end bool, err error) {
	for {
		if c, err = s.space(); err != nil {
			return "", 0, false, err
		}
		switch c {
		case '}':
			return "", 0, true, nil
		case ',':
			continue
		case '"':
		default:
			return "", 0, false, fmt.Errorf("salvage page: unexpected %q where a key belongs (byte %d)", c, s.n)
		}
		raw, _, err := s.str(maxLinkBytes)
		if err != nil {
			return "", 0, false, err
		}
		key = unquote(raw) // before s.str reuses its buffer
		if c, err = s.space(); err != nil {
			return "", 0, false, err
		}
		if c != ':' {
			return "", 0, false, fmt.Errorf("salvage page: no colon after key %.40q (byte %d)", key, s.n)
		}
		c, err = s.space()
		return key, c, false, err
	}
}

// skimmer reads JSON a byte at a time, leniently: a string ends at its
// first unescaped quote whatever bytes it holds. Bytes read are appended to
// keep while limit allows (limit < 0: nothing is kept); over says some
// were not.
type skimmer struct {
	r     *bufio.Reader
	n     int64
	keep  []byte
	limit int
	over  bool
	// cut receives a string's bytes while str reads one.
	cut []byte
}

func (s *skimmer) byte() (byte, error) {
	c, err := s.r.ReadByte()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, fmt.Errorf("salvage page: %w", err)
	}
	s.n++
	if s.limit >= 0 {
		if len(s.keep) < s.limit {
			s.keep = append(s.keep, c)
		} else {
			s.over = true
		}
	}
	return c, nil
}

// space returns the next byte that is not JSON whitespace.
func (s *skimmer) space() (byte, error) {
	for {
		c, err := s.byte()
		if err != nil || (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
			return c, err
		}
	}
}

// str reads a string whose opening quote was read and returns it quoted,
// as far as max bytes; whole says it fitted.
func (s *skimmer) str(max int) (raw []byte, whole bool, err error) {
	s.cut = append(s.cut[:0], '"')
	esc := false
	for {
		c, err := s.byte()
		if err != nil {
			return nil, false, err
		}
		if len(s.cut) <= max {
			s.cut = append(s.cut, c)
		}
		switch {
		case esc:
			esc = false
		case c == '\\':
			esc = true
		case c == '"':
			return s.cut, len(s.cut) <= max, nil
		}
	}
}

// skip reads past the value whose first byte is c.
func (s *skimmer) skip(c byte) error {
	depth := 0
	for {
		switch c {
		case '"':
			if _, _, err := s.str(0); err != nil {
				return err
			}
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		}
		if depth <= 0 && (c == '"' || c == '}' || c == ']') {
			return nil
		}
		if depth == 0 {
			// A scalar: it ends before the next delimiter.
			next, err := s.r.Peek(1)
			if err != nil || bytes.IndexByte([]byte(",}] \t\r\n"), next[0]) >= 0 {
				return nil
			}
		}
		var err error
		if c, err = s.byte(); err != nil {
			return err
		}
	}
}

// unquote decodes a quoted JSON string, leniently: bytes JSON forbids are
// kept as they are.
func unquote(raw []byte) string {
	if bytes.IndexByte(raw, '\\') < 0 && len(raw) >= 2 {
		return string(raw[1 : len(raw)-1])
	}
	var v string
	if json.Unmarshal(raw, &v) == nil {
		return v
	}
	if u, err := strconv.Unquote(string(raw)); err == nil {
		return u
	}
	return string(bytes.Trim(raw, `"`))
}
