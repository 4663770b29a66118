package graph_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/graphsync/graphsync/graph"
)

func TestSplitPageMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	tests := []string{
		`{"value":[]}`,
		`{"@odata.context":"x","value":[{"id":"a"},{"id":"b","s":"q\"],}{ \\"}],"@odata.nextLink":"https://g/v1.0/me/delta?$skiptoken=a%3D"}`,
		" { \"@odata.deltaLink\" : \"https://g/d?$deltatoken=x\\u0026y\" ,\n \"value\" : [ 1 , \"two\" , [3,[4]] , {\"n\":{\"m\":[]}} , null , true ] } ",
		`{"val\u0075e":[{"id":"escaped key"}]}`,
		`{"value":[{"id":"x","nested":{"value":[{"id":"inner"}]}}],"other":{"value":[9]}}`,
	}
	for _, body := range tests {
		items, next, delta, err := graph.SplitPage([]byte(body))
		if err != nil {
			t.Fatalf("splitPage(%s): %v", body, err)
		}
		var want struct {
			Value     []json.RawMessage `json:"value"`
			NextLink  string            `json:"@odata.nextLink"`
			DeltaLink string            `json:"@odata.deltaLink"`
		}
		if err := json.Unmarshal([]byte(body), &want); err != nil {
			t.Fatal(err)
		}
		if next != want.NextLink || delta != want.DeltaLink || len(items) != len(want.Value) {
			t.Fatalf("splitPage(%s) = %d items, next %q, delta %q; want %d, %q, %q", body, len(items), next, delta, len(want.Value), want.NextLink, want.DeltaLink)
		}
		for i := range items {
			if !bytes.Equal(items[i], want.Value[i]) {
				t.Errorf("item %d = %s, want %s", i, items[i], want.Value[i])
			}
		}
	}
	for _, bad := range []string{`{"value":[{"id":"a"},{"id":"b"`, `{"value":[]}<html>`, `[]`, `{"error":{"code":"x"}}`, `{"value":null}`} {
		if _, _, _, err := graph.SplitPage([]byte(bad)); err == nil {
			t.Errorf("splitPage(%s) accepted a body that is not a page", bad)
		}
	}
}
