package graphsync_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/jsonscan"
)

func TestRemoved(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw    string
		reason string
		ok     bool
	}{
		{`{"@odata.type":"#microsoft.graph.message","id":"AAMk1","@removed":{"reason":"deleted"}}`, "deleted", true},
		{`{"id":"u1","@removed":{"reason":"changed"}}`, "changed", true},
		{`{"id":"m1","subject":"about \"@removed\" entries"}`, "", false},
		{`{"id":"d1","deleted":{"state":"deleted"}}`, "", false},
		{`not json "@removed"`, "", false},
	}
	for _, tt := range tests {
		reason, ok := graphsync.Removed(json.RawMessage(tt.raw))
		if reason != tt.reason || ok != tt.ok {
			t.Errorf("Removed(%s) = %q, %v; want %q, %v", tt.raw, reason, ok, tt.reason, tt.ok)
		}
	}
}

func TestDecodeErrorNamesRecordAndField(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		decode func(json.RawMessage) error
		raw    string
		id     string
		field  string
	}{
		{"bad time", func(r json.RawMessage) error { _, err := graphsync.DecodeMessage(r); return err },
			`{"id":"AAMkBad","subject":"x","receivedDateTime":"yesterday"}`, "AAMkBad", "receivedDateTime"},
		{"wrong type", func(r json.RawMessage) error { _, err := graphsync.DecodeMessage(r); return err },
			`{"id":"AAMkType","isRead":"yes"}`, "AAMkType", "isRead"},
		{"nested wrong type", func(r json.RawMessage) error { _, err := graphsync.DecodeDriveItem(r); return err },
			`{"id":"01ABC","folder":{"childCount":"many"}}`, "01ABC", "folder.childCount"},
		{"not an object", func(r json.RawMessage) error { _, err := graphsync.DecodeEvent(r); return err },
			`[1,2]`, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.decode(json.RawMessage(tt.raw))
			var de *graphsync.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is not a *DecodeError", err)
			}
			if de.ID != tt.id || de.Field != tt.field {
				t.Fatalf("DecodeError id=%q field=%q, want id=%q field=%q (%v)", de.ID, de.Field, tt.id, tt.field, err)
			}
			if tt.id != "" && !strings.Contains(err.Error(), tt.id) {
				t.Errorf("error %q does not name the record", err)
			}
		})
	}
}

func TestDecodeMessage(t *testing.T) {
	t.Parallel()
	m, err := graphsync.DecodeMessage(json.RawMessage(graphsync.SampleMessage(7)))
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != "AAMkAGI2THVSAAA=7" || m.From == nil || m.From.EmailAddress.Address != "MeganB@contoso.com" ||
		len(m.ToRecipients) != 2 || m.Flag == nil || m.Flag.FlagStatus != "flagged" || len(m.Categories) != 1 ||
		!m.ReceivedDateTime.Equal(time.Date(2024, 5, 1, 10, 0, 7, 0, time.UTC)) || m.Body == nil || m.Body.ContentType != "html" {
		t.Fatalf("decoded message is wrong: %+v", m)
	}
}

func BenchmarkDecodeMessages(b *testing.B) {
	var page strings.Builder
	page.WriteString(`{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#Collection(message)","value":[`)
	const n = 1000
	for i := range n {
		if i > 0 {
			page.WriteByte(',')
		}
		if i%50 == 49 {
			fmt.Fprintf(&page, `{"@odata.type":"#microsoft.graph.message","id":"AAMkGone%d","@removed":{"reason":"deleted"}}`, i)
			continue
		}
		page.WriteString(graphsync.SampleMessage(i))
	}
	page.WriteString(`],"@odata.nextLink":"https://graph.microsoft.com/v1.0/me/mailfolders('AQMkADNkNAAAgEMAAAA')/messages/delta?$skiptoken=GwcBoTmPuoTQWfcsAbkYM"}`)
	body := []byte(page.String())
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		// What GetPage does (validate and cut out the items in one walk),
		// then the caller's per-record decode.
		members, ok := jsonscan.Scan(body)
		if !ok {
			b.Fatal("invalid page")
		}
		var items []json.RawMessage
		for _, m := range members {
			if string(m.Key) == `"value"` {
				items = m.Elems
			}
		}
		for _, raw := range items {
			if _, ok := graphsync.Removed(raw); ok {
				continue
			}
			if _, err := graphsync.DecodeMessage(raw); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(n), "records/op")
}

func TestFullAndPartialItems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		table *graphsync.Table
		raw   string
		full  bool
	}{
		{graphsync.Mail.Items(), graphsync.SampleMessage(1), true},
		{graphsync.Mail.Items(), `{"id":"AAMk1","isRead":true}`, false},
		{graphsync.Calendar.Items(), `{"id":"e","type":"singleInstance","subject":"x"}`, true},
		// An attendee's type is not the event's.
		{graphsync.Calendar.Items(), `{"id":"e","attendees":[{"type":"required"}]}`, false},
		{graphsync.Contacts.Items(), `{"id":"c","createdDateTime":"2024-01-02T03:04:05Z"}`, true},
		{graphsync.Contacts.Items(), `{"id":"c","displayName":"renamed"}`, false},
		{graphsync.Drive.Items(), `{"id":"d","name":"a.txt"}`, true},
	}
	for _, tt := range tests {
		if got := tt.table.IsFull([]byte(tt.raw)); got != tt.full {
			t.Errorf("%s IsFull(%s) = %v, want %v", tt.table.Name, tt.raw, got, tt.full)
		}
	}
	if !graphsync.Drive.Items().IsRemoved([]byte(`{"id":"d","deleted":{"state":"deleted"}}`)) ||
		graphsync.Drive.Items().IsRemoved([]byte(`{"id":"d","deleted":null,"name":"x"}`)) {
		t.Error("a drive item is removed exactly when it has a deleted facet")
	}
}
