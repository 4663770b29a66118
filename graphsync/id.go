package graphsync

import (
	"bytes"
	"encoding/json"

	"github.com/graphsync/graphsync/internal/jsonscan"
)

// ID returns the id of an item of a Page without decoding the rest of it, as
// json.Unmarshal into a struct with an `json:"id"` field would: keys match
// case-insensitively, the last one wins and null leaves it unset. ok is
// false when the id is not a string. raw must be valid JSON, as Page items
// are (GetPage validates the whole body once).
func ID(raw json.RawMessage) (id string, ok bool) {
	ok = jsonscan.Members(raw, func(key, val []byte) bool {
		if !isIDKey(key) {
			return true
		}
		switch {
		case bytes.Equal(val, []byte("null")):
		case len(val) >= 2 && val[0] == '"' && bytes.IndexByte(val, '\\') < 0:
			id = string(val[1 : len(val)-1])
		default:
			return json.Unmarshal(val, &id) == nil
		}
		return true
	})
	if !ok {
		return "", false
	}
	return id, true
}

// isIDKey reports whether a quoted key names "id" in any case, escapes
// included, as encoding/json matches field names.
func isIDKey(key []byte) bool {
	if len(key) == 4 {
		return bytes.EqualFold(key, []byte(`"id"`))
	}
	if bytes.IndexByte(key, '\\') < 0 {
		return false
	}
	var k string
	return json.Unmarshal(key, &k) == nil && bytes.EqualFold([]byte(k), []byte("id"))
}
