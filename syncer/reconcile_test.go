package syncer

import (
	"encoding/json"
	"testing"
)

// A fetched item takes the listing's shared facet, present or absent,
// whatever its GET served; what the listing says of other items stays
// theirs, and an item that is no object is left for the quarantine.
func TestFetchedItemTakesListedProperties(t *testing.T) {
	names := []string{"shared"}
	if p := listedProps(names, json.RawMessage(`{"id":"a"}`)); p != nil {
		t.Errorf("an item listed without the facet carries %v", p)
	}
	own := listedProps(names, json.RawMessage(`{"id":"b","shared":{}}`))
	if string(own["shared"]) != `{}` {
		t.Fatalf("an item listed with an empty facet carries %v", own)
	}
	get := json.RawMessage(`{"id":"b","name":"f.txt","shared":{"scope":"users"}}`)
	for _, tc := range []struct {
		listed map[string]json.RawMessage
		want   string
	}{
		{own, `{"id":"b","name":"f.txt","shared":{}}`},
		{nil, `{"id":"b","name":"f.txt"}`},
	} {
		var got, want any
		if err := json.Unmarshal(withListed(get, names, tc.listed), &got); err != nil {
			t.Fatal(err)
		}
		_ = json.Unmarshal([]byte(tc.want), &want)
		if gb, _ := json.Marshal(got); string(gb) != mustJSON(t, want) {
			t.Errorf("fetched item with listing %v: %s, want %s", tc.listed, gb, tc.want)
		}
	}
	if got := withListed(json.RawMessage(`[1]`), names, nil); string(got) != `[1]` {
		t.Errorf("an item that is no object became %s", got)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
