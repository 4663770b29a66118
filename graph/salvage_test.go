package graph

import (
	"strings"
	"testing"
)

// A salvaged page keeps every item that is valid JSON within the budget and
// refuses the others with their id, whatever they hold; the paging links are
// found before or after the items.
func TestSalvage(t *testing.T) {
	t.Parallel()
	big := `{"id":"big","body":"` + strings.Repeat("x", 200) + `"}`
	body := `{"@odata.context":"ctx","@odata.nextLink":"https://g/v1.0/next?$skiptoken=a\u0026b","value":[` +
		`{"id":"a","n":1},` +
		"{\"subject\":\"raw \x01 control\",\"id\":\"ctrl\",\"nested\":{\"id\":\"inner\"}}," +
		big + `,` +
		`{"id":"b","s":"quote \" and brace }"},` +
		`17,` +
		`{"no":"id"}` +
		`],"@odata.deltaLink":"https://g/v1.0/delta"}`
	p, err := salvage(strings.NewReader(body), 100)
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, it := range p.Items {
		kept = append(kept, string(it))
	}
	want := []string{`{"id":"a","n":1}`, `{"id":"b","s":"quote \" and brace }"}`, `17`, `{"no":"id"}`}
	if strings.Join(kept, "|") != strings.Join(want, "|") {
		t.Errorf("kept %q, want %q", kept, want)
	}
	if len(p.Refused) != 2 {
		t.Fatalf("refused %+v, want the control character and the big one", p.Refused)
	}
	ctrl, large := p.Refused[0], p.Refused[1]
	if ctrl.ID != "ctrl" || !strings.Contains(string(ctrl.Payload), "\x01") || !strings.HasPrefix(ctrl.Reason, "is not valid JSON") {
		t.Errorf("control character item refused as %+v", ctrl)
	}
	if large.ID != "big" || large.Size != int64(len(big)) || !strings.Contains(large.Reason, "too large") || len(large.Payload) > len(big) {
		t.Errorf("large item refused as id %q size %d reason %q", large.ID, large.Size, large.Reason)
	}
	if p.NextLink != "https://g/v1.0/next?$skiptoken=a&b" || p.DeltaLink != "https://g/v1.0/delta" {
		t.Errorf("links %q %q", p.NextLink, p.DeltaLink)
	}

	for _, bad := range []string{`[1,2]`, `{"value":{}}`, `{"value":[{"id":"a"}`, `{"nextLink":"x"}`, `{"value":[{"id" "a"}]}`} {
		if _, err := salvage(strings.NewReader(bad), 100); err == nil {
			t.Errorf("salvage(%s) accepted", bad)
		}
	}
}
