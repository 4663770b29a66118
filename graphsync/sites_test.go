package graphsync

import (
	"strings"
	"testing"
)

func TestParseSites(t *testing.T) {
	id := "contoso.sharepoint.com,2c712604-1370-44e7-a1f5-426573c1d8b6,2d2244c3-251a-49ea-93a8-39fcc1d9a3c4"
	got, err := ParseSites(" https://Contoso.sharepoint.com/sites/Sales/ ," + id + ",https://contoso.sharepoint.com,https://contoso.sharepoint.com/sites/Sales")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"https://contoso.sharepoint.com/sites/Sales", id, "https://contoso.sharepoint.com"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i, w := range want {
		if got[i].String() != w {
			t.Errorf("site %d is %q, want %q", i, got[i], w)
		}
	}
	if p := got[0].GraphPath(); p != "/sites/contoso.sharepoint.com:/sites/Sales" {
		t.Errorf("path of a URL is %q", p)
	}
	if p := got[2].GraphPath(); p != "/sites/contoso.sharepoint.com" {
		t.Errorf("path of the root site is %q", p)
	}
	if p := got[1].GraphPath(); !strings.HasPrefix(p, "/sites/contoso.sharepoint.com,2c71") {
		t.Errorf("path of an id is %q", p)
	}
	for _, bad := range []string{"http://contoso.sharepoint.com/sites/x", "contoso", "https://contoso.sharepoint.com/sites/x?a=1",
		"contoso.sharepoint.com,nope,2d2244c3-251a-49ea-93a8-39fcc1d9a3c4", "https:///sites/x"} {
		_, err := ParseSites("https://contoso.sharepoint.com," + bad)
		if err == nil || !strings.Contains(err.Error(), "site ") {
			t.Errorf("%q: error %v, want one naming the site", bad, err)
		}
	}
	if got, err := ParseSites(" , "); err != nil || len(got) != 0 {
		t.Errorf("empty list: %v, %v", got, err)
	}
}
