package config

import (
	"strings"
	"testing"

	"github.com/graphsync/graphsync/graphsync"
)

func TestPageSizes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		value string
		want  map[*graphsync.Resource]int
		err   string
	}{
		{value: DefaultPageSize, want: map[*graphsync.Resource]int{graphsync.Mail: 250, graphsync.Contacts: 250, graphsync.Calendar: 250}},
		{value: "", want: map[*graphsync.Resource]int{}},
		{value: "1000", want: map[*graphsync.Resource]int{graphsync.Mail: 1000, graphsync.Contacts: 1000, graphsync.Calendar: 1000}},
		{value: "200, calendar=50", want: map[*graphsync.Resource]int{graphsync.Mail: 200, graphsync.Contacts: 200, graphsync.Calendar: 50}},
		{value: "mail=1000", want: map[*graphsync.Resource]int{graphsync.Mail: 1000}},
		{value: "0", err: `"0" is not a page size from 1 to 1000`},
		{value: "mail=1001", err: `"1001" is not a page size from 1 to 1000`},
		{value: "mail=big", err: `"big" is not a page size`},
		{value: "drive=100", err: `"drive" is not a resource whose page size can be chosen (mail, calendar, contacts)`},
		{value: "mials=100", err: `"mials" is not a resource`},
	}
	for _, tt := range tests {
		c := &Config{PageSize: tt.value}
		got, err := c.PageSizes()
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), "GRAPHSYNC_PAGE_SIZE") {
				t.Errorf("PageSizes(%q) = %v, want an error naming GRAPHSYNC_PAGE_SIZE and %s", tt.value, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("PageSizes(%q): %v", tt.value, err)
			continue
		}
		if len(got) != len(tt.want) {
			t.Errorf("PageSizes(%q) = %v, want %v", tt.value, got, tt.want)
		}
		for r, n := range tt.want {
			if got[r] != n {
				t.Errorf("PageSizes(%q)[%s] = %d, want %d", tt.value, r, got[r], n)
			}
		}
	}
	if err := (&Config{PageSize: "x", LogFormat: "json", LogLevel: "info", RiverUI: "true", ChangesPruneConsumed: "false"}).Validate(Need{}); err == nil ||
		!strings.Contains(err.Error(), "GRAPHSYNC_PAGE_SIZE") {
		t.Errorf("Validate with a bad page size: %v, want it named", err)
	}
}
