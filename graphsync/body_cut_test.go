package graphsync

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
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
		// What scanMessage reads itself, and what it leaves to encoding/json.
		`{"id":"a","categories":[],"toRecipients":[],"ccRecipients":null,"replyTo":[null,{"emailAddress":null}]}`,
		`{"id":"a","categories":["x",null,"y\u00e9"],"subject":"caf\u00e9 \"q\"","bodyPreview":"\ud800"}`,
		`{"id":"a","Subject":"folded","SUBJECT":"again"}`,
		`{"id":"a","subject":"one","subject":"two"}`,
		`{"id":"a","from":{"emailAddress":{"name":"n"}},"from":{"emailAddress":{"address":"x@y"}}}`,
		`{"id":"a","from":{"emailAddress":{"Name":"n","address":"x@y","extra":1}},"sender":{}}`,
		`{"id":"a","isRead":"true"}`, `{"id":"a","isRead":1}`, `{"id":"a","isDraft":null,"hasAttachments":true}`,
		`{"id":"a","categories":"x"}`, `{"id":"a","categories":[1]}`, `{"id":"a","toRecipients":{}}`,
		`{"id":"a","toRecipients":[{"emailAddress":{"address":5}}]}`,
		`{"id":"a","flag":{"flagStatus":"flagged","dueDateTime":{"dateTime":"2024-01-02T00:00:00","timeZone":"UTC"},"startDateTime":null}}`,
		`{"id":"a","flag":{"completedDateTime":{"dateTime":1}}}`,
		`{"id":"a","sentDateTime":null,"createdDateTime":"2024-01-02T03:04:05.123+01:00","lastModifiedDateTime":5}`,
		`{"id":"a","receivedDateTime":"2024-01-02T03:04:05\u005a"}`,
		`{"id":"","subject":"no id"}`, `{"id":null}`, `{"subject":"x"}`,
		`{"\u0069d":"escaped key"}`, `{"id":"a","ſubject":"non-ASCII key"}`, `{"id":"a","unknown":{"deep":[1,{"x":null}]}}`,
		"{\"id\":\"a\",\"subject\":\"bad \xff byte\"}",
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

// The messages Graph sends take the single-walk path (scanMessage), not
// encoding/json's: otherwise ingest would quietly lose its speed.
func TestScanMessageReadsGraphMessages(t *testing.T) {
	for i := range 50 {
		raw := []byte(sampleMessage(i))
		got, ok := scanMessage(raw)
		if !ok {
			t.Fatalf("scanMessage gave %s to encoding/json", raw)
		}
		want, err := decode[Message]("message", raw)
		if err != nil {
			t.Fatal(err)
		}
		want.Body.Content = ""
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\n got %+v\nwant %+v", raw, got, want)
		}
	}
}

// sampleMessage follows the message shape in Microsoft's message-delta
// documentation.
func sampleMessage(i int) string {
	return fmt.Sprintf(`{"@odata.type":"#microsoft.graph.message","@odata.etag":"W/\"CQAAABYAAAARn2vdzPDERjqLwrUTtQh4AAAd%d\"",`+
		`"id":"AAMkAGI2THVSAAA=%d","createdDateTime":"2024-05-01T10:00:%02dZ","lastModifiedDateTime":"2024-05-01T10:00:%02dZ",`+
		`"changeKey":"CQAAABYAAAARn2vdzPDERjqLwrUTtQh4AAAd","categories":["Blue category"],"receivedDateTime":"2024-05-01T10:00:%02dZ",`+
		`"sentDateTime":"2024-05-01T09:59:58Z","hasAttachments":false,"internetMessageId":"<MWHPR%d@contoso.com>",`+
		`"subject":"Quarterly numbers %d","bodyPreview":"Hi team, please find the numbers attached for review before Friday.",`+
		`"importance":"normal","parentFolderId":"AQMkADNkNAAAgEMAAAA","conversationId":"AAQkAGI2TG93AAA=","isDeliveryReceiptRequested":false,`+
		`"isReadReceiptRequested":false,"isRead":true,"isDraft":false,"webLink":"https://outlook.office365.com/owa/?ItemID=AAMk%d",`+
		`"inferenceClassification":"focused","body":{"contentType":"html","content":"<html><body><p>Hi team, please find the numbers attached for review before Friday.</p><p>Thanks, Megan</p></body></html>"},`+
		`"sender":{"emailAddress":{"name":"Megan Bowen","address":"MeganB@contoso.com"}},"from":{"emailAddress":{"name":"Megan Bowen","address":"MeganB@contoso.com"}},`+
		`"toRecipients":[{"emailAddress":{"name":"Alex Wilber","address":"AlexW@contoso.com"}},{"emailAddress":{"name":"Lee Gu","address":"LeeG@contoso.com"}}],`+
		`"ccRecipients":[],"bccRecipients":[],"replyTo":[],"flag":{"flagStatus":"flagged"}}`, i, i, i%60, i%60, i%60, i, i, i)
}

// str unescapes JSON strings exactly as encoding/json does.
func FuzzStr(f *testing.F) {
	for _, s := range []string{`""`, `"plain"`, `"a\"b\\c\/d\b\f\n\r\t"`, `"caf\u00e9 \u20AC"`, `"\ud83d\ude00"`,
		`"\ud800"`, `"\udc00x"`, `"\u0000"`, "\"bad \xff\"", `"tail\\"`, `"é"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, val []byte) {
		var want string
		wantErr := json.Unmarshal(val, &want)
		if !json.Valid(val) || len(bytes.TrimSpace(val)) != len(val) {
			// Not a value as jsonscan cuts them: only no panic.
			_, _ = str(val)
			return
		}
		got, ok := str(val)
		if ok != (wantErr == nil) || got != want {
			t.Fatalf("str(%s) = %q, %v; encoding/json: %q, %v", val, got, ok, want, wantErr)
		}
	})
}

// A member nesting deeper than encoding/json accepts fails the message, as
// encoding/json would, though no field reads it.
func TestDecodeMessageRefusesDeepNesting(t *testing.T) {
	deep := strings.Repeat("[", 10000) + strings.Repeat("]", 10000) // 10,001 with the message
	_, err := DecodeMessage([]byte(`{"id":"a","subject":"s","extensions":` + deep + `}`))
	if err == nil || !strings.Contains(err.Error(), "exceeded max depth") {
		t.Fatalf("DecodeMessage of a too deep message: %v", err)
	}
}

// containsAt finds what bytes.Contains finds, whatever byte it searches for.
func FuzzContainsAt(f *testing.F) {
	for _, s := range []string{"", "cid:", "xcid:y", "cid", ":cid:", "ccid::", "ci:d:cid", `{"@removed":{}}`, `"@remove"`, "@@removed\""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, c := range []struct {
			sep string
			k   int
		}{{"cid:", 3}, {`"@removed"`, 1}, {"a", 0}} {
			if got, want := containsAt(b, c.sep, c.k), bytes.Contains(b, []byte(c.sep)); got != want {
				t.Fatalf("containsAt(%q, %q, %d) = %v, bytes.Contains %v", b, c.sep, c.k, got, want)
			}
		}
	})
}
