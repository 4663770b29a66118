package graphsync

import (
	"encoding/json"
	"testing"
)

// ID agrees with json.Unmarshal into a struct's id field on valid JSON.
func TestIDMatchesUnmarshal(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{
		`{"id":"AAMkAG="}`,
		`{"@odata.type":"#microsoft.graph.message","subject":"{\"id\":\"no\"}","id":"x1","body":{"id":"inner"}}`,
		` { "id" : "spaced" } `,
		`{"ID":"upper"}`,
		`{"id":"first","Id":"last"}`,
		`{"id":"kept","id":null}`,
		`{"id":null}`,
		`{"\u0069d":"escaped key"}`,
		`{"id":"esc\"aped\u00e9"}`,
		`{"id":42}`,
		`{"id":{"nested":true}}`,
		`{"identity":"not it"}`,
		`{}`,
		`[]`,
		`"id"`,
	} {
		var head struct {
			ID string `json:"id"`
		}
		err := json.Unmarshal([]byte(raw), &head)
		id, ok := ID(json.RawMessage(raw))
		if ok != (err == nil) || id != head.ID && err == nil {
			t.Errorf("ID(%s) = %q, %v; json.Unmarshal gives %q, %v", raw, id, ok, head.ID, err)
		}
	}
}

func BenchmarkID(b *testing.B) {
	raw := json.RawMessage(`{"@odata.type":"#microsoft.graph.message","@odata.etag":"W/\"CQAAAB\"","id":"AAMkAGI2THVSAAA=","body":{"contentType":"text","content":"lorem ipsum dolor sit amet"},"subject":"hello"}`)
	for b.Loop() {
		if _, ok := ID(raw); !ok {
			b.Fatal("no id")
		}
	}
}
