package graphsync

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// Fuzz targets for everything that reads bytes Graph sent: the page parser,
// every resource's decoder and the links the client follows. Seeds live in
// testdata/fuzz/<target>; `make fuzz` runs each target for a bounded time.

var decoders = []struct {
	kind   string
	decode func(json.RawMessage) (string, error)
}{
	{"message", func(r json.RawMessage) (string, error) { v, err := DecodeMessage(r); return v.ID, err }},
	{"mailFolder", func(r json.RawMessage) (string, error) { v, err := DecodeMailFolder(r); return v.ID, err }},
	{"event", func(r json.RawMessage) (string, error) { v, err := DecodeEvent(r); return v.ID, err }},
	{"driveItem", func(r json.RawMessage) (string, error) { v, err := DecodeDriveItem(r); return v.ID, err }},
	{"chat", func(r json.RawMessage) (string, error) { v, err := DecodeChat(r); return v.ID, err }},
	{"chatMessage", func(r json.RawMessage) (string, error) { v, err := DecodeChatMessage(r); return v.ID, err }},
	{"person", func(r json.RawMessage) (string, error) { v, err := DecodePerson(r); return v.ID, err }},
	{"contact", func(r json.RawMessage) (string, error) { v, err := DecodeContact(r); return v.ID, err }},
	{"contactFolder", func(r json.RawMessage) (string, error) { v, err := DecodeContactFolder(r); return v.ID, err }},
	{"user", func(r json.RawMessage) (string, error) { v, err := DecodeUser(r); return v.ID, err }},
}

func addRecordSeeds(f *testing.F) {
	for _, s := range []string{
		`{"id":"AAMkAG1","subject":"hello","createdDateTime":"2024-01-02T03:04:05Z","receivedDateTime":"2024-01-02T03:04:05Z"}`,
		`{"id":"x","subject":42}`,
		`{"subject":"no id"}`,
		`{"id":""}`,
		`{"id":17}`,
		`{"id":"a","@removed":{"reason":"deleted"}}`,
		`{"id":"n\u0000ul \ud800 \ud83d\ude00","body":{"contentType":"html","content":"<p>x</p>"}}`,
		`{"id":"x'); DROP TABLE mail_messages;--","@odata.type":"#microsoft.graph.unknownThing"}`,
		`{"id":"d","start":{"dateTime":"2024-01-02T03:04:05.0000000","timeZone":"UTC"},"attendees":[{"type":"required"}]}`,
		`{"id":"f","file":{"mimeType":"text/plain"},"parentReference":{"driveId":"b!x","path":"/drive/root:"},"size":-1}`,
		`{"id":"c","members":[{"userId":"u"}],"lastMessagePreview":{"body":{"content":7}}}`,
		`{"id":"p","scoredEmailAddresses":[{"address":"a@b","relevanceScore":"high"}]}`,
		`{"id":"u","businessPhones":"not a list"}`,
		`[]`, `null`, `"id"`, `{"id":"x"`, "{\"id\":\"bad \xff utf8\"}",
		strings.Repeat("[", 200) + strings.Repeat("]", 200),
	} {
		f.Add([]byte(s))
	}
}

// FuzzDecode: no decoder panics, and valid JSON either decodes to a record
// with an id or fails with a DecodeError naming the kind of record.
func FuzzDecode(f *testing.F) {
	addRecordSeeds(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, d := range decoders {
			id, err := d.decode(raw)
			if err != nil {
				var de *DecodeError
				if !errors.As(err, &de) || de.Kind != d.kind {
					t.Fatalf("%s: error %v is not a DecodeError of kind %s", d.kind, err, d.kind)
				}
				if de.Error() == "" {
					t.Fatalf("%s: empty error text", d.kind)
				}
				continue
			}
			if id == "" {
				t.Fatalf("%s decoded %q without an id and without an error", d.kind, raw)
			}
		}
		// Neither may panic whatever the input.
		_, _ = Removed(raw)
		for _, tb := range Tables() {
			_ = tb.IsRemoved(raw)
		}
	})
}
