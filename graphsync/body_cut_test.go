package graphsync

import (
	"encoding/json"
	"reflect"
	"testing"
)

// DecodeMessage without the bodies' content must decode everything else
// exactly as encoding/json does, and fail exactly when it fails.
func FuzzDecodeMessageWithoutBodies(f *testing.F) {
	for _, s := range []string{
		`{"id":"a","subject":"s","body":{"contentType":"html","content":"<p>x\"y\\u00e9</p>"},"isRead":true}`,
		`{"id":"a","Body":{"ContentType":"text","content":"x"},"uniqueBody":{"contentType":"html"}}`,
		`{"id":"a","body":null,"uniqueBody":null}`,
		`{"id":"a","body":{}}`,
		`{"id":"a","body":"not an object"}`,
		`{"id":"a","body":{"contentType":5}}`,
		`{"id":"a","body":{"contentType":"te\u0078t"}}`,
		`{"id":"a","body":{"content\u0054ype":"text"}}`,
		`{"id":"a","b\u006fdy":{"contentType":"text"}}`,
		`{"body":{"contentType":"html"},"id":"a","body":{"contentType":"text"},"id":"b"}`,
		`{"id":"a","toRecipients":[{"emailAddress":{"address":"x@y","name":"n"}}],"body":{"contentType":"html","content":""},"receivedDateTime":"2024-01-02T03:04:05Z"}`,
		`{"id":"a","receivedDateTime":"not a time","body":{"contentType":"html"}}`,
		` { "id" : "a" , "body" : { "contentType" : "html" , "content" : "x" } } `,
		`{}`, `[]`, `{"id":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			// The precondition: items of a validated page. Only no panic.
			_, _ = DecodeMessage(raw)
			return
		}
		got, gotErr := DecodeMessage(raw)
		want, wantErr := decode[Message]("message", raw)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("%s: error %v, encoding/json says %v", raw, gotErr, wantErr)
		}
		if gotErr != nil {
			return
		}
		for _, b := range []*ItemBody{want.Body, want.UniqueBody} {
			if b != nil {
				b.Content = ""
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\n got %+v\nwant %+v", raw, got, want)
		}
	})
}
