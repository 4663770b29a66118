package graphsync

import (
	"bytes"
	"encoding/json"

	"github.com/graphsync/graphsync/internal/jsonscan"
)

// bodyKeys are the message properties holding bodies: most of a message's
// bytes, and nothing graphsync stores in a column but their content type.
var bodyKeys = [][]byte{[]byte(`"body"`), []byte(`"uniqueBody"`)}

// cutBodies returns raw without its top-level body members and, for each
// present, the body's content type (nil when the member is null). It scans
// with the page splitter's rules, so raw must be valid JSON, as Page items
// are; ok is false when raw does not have the expected shape (not an
// object, a key with escapes, a body that is not an object or null, a
// contentType that is not a plain string), and the caller then decodes raw
// whole to get encoding/json's verdict.
func cutBodies(raw []byte) (slim []byte, contentTypes map[string]*string, ok bool) {
	slim = make([]byte, 0, 2048)
	slim = append(slim, '{')
	ok = jsonscan.Members(raw, func(key, val []byte) bool {
		if bytes.IndexByte(key, '\\') >= 0 {
			return false
		}
		name := bodyKey(key)
		if name == "" {
			if len(slim) > 1 {
				slim = append(slim, ',')
			}
			slim = append(append(append(slim, key...), ':'), val...)
			return true
		}
		ct, ok := contentType(val, contentTypes[name])
		if !ok {
			return false
		}
		if contentTypes == nil {
			contentTypes = map[string]*string{}
		}
		contentTypes[name] = ct
		return true
	})
	if !ok {
		return nil, nil, false
	}
	return append(slim, '}'), contentTypes, true
}

// bodyKey names the body property key matches, as encoding/json matches
// field names (case-insensitively); "" for other keys.
func bodyKey(key []byte) string {
	for _, k := range bodyKeys {
		if bytes.EqualFold(key, k) {
			return string(k[1 : len(k)-1])
		}
	}
	return ""
}

// contentType reads an itemBody's contentType without touching its content,
// into prev as encoding/json would decode the body into the field holding
// prev (a repeated key decodes into the same value): nil for a null body.
func contentType(v []byte, prev *string) (*string, bool) {
	if bytes.Equal(v, []byte("null")) {
		return nil, true
	}
	ct := ""
	if prev != nil {
		ct = *prev
	}
	ok := jsonscan.Members(v, func(key, val []byte) bool {
		if !bytes.EqualFold(key, []byte(`"contentType"`)) {
			return bytes.IndexByte(key, '\\') < 0
		}
		// Read (escapes, invalid UTF-8) exactly as encoding/json would.
		if string(val) == "null" {
			return true
		}
		t, ok := str(val)
		ct = t
		return ok
	})
	if !ok {
		return nil, false
	}
	return &ct, true
}

// decodeMessage decodes a message without its bodies' content: encoding/json
// would validate, unescape and copy every body to store none of it.
func decodeMessage(raw json.RawMessage) (Message, error) {
	if m, ok := scanMessage(raw); ok {
		return m, nil
	}
	slim, cts, ok := cutBodies(raw)
	if !ok {
		return decode[Message]("message", raw)
	}
	m, err := decode[Message]("message", slim)
	if err != nil {
		return m, err
	}
	if ct, ok := cts["body"]; ok && ct != nil {
		m.Body = &ItemBody{ContentType: *ct}
	}
	if ct, ok := cts["uniqueBody"]; ok && ct != nil {
		m.UniqueBody = &ItemBody{ContentType: *ct}
	}
	return m, nil
}
