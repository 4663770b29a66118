package graphsync_test

import (
	"encoding/json"
	"testing"

	"github.com/graphsync/graphsync/graphsync"
)

// A group listed several times in one page is one item, its occurrences
// laid one over the other without members@delta, its membership changes
// apart with the last change of each member winning; a group removed last
// is its tombstone, without memberships; an unreadable member is set
// apart.
func TestFoldGroups(t *testing.T) {
	items := []json.RawMessage{
		json.RawMessage(`{"id":"g1","displayName":"One","description":"first","members@delta":[{"@odata.type":"#microsoft.graph.user","id":"u1"},{"@odata.type":"#microsoft.graph.user","id":"u2"}]}`),
		json.RawMessage(`{"id":"g2","displayName":"Two","members@delta":[{"@odata.type":"#microsoft.graph.user","id":"u1"}]}`),
		json.RawMessage(`{"id":"g1","description":"second","members@delta":[{"id":"u1","@removed":{"reason":"deleted"}},{"@odata.type":"#microsoft.graph.group","id":"g9"},{"id":""}]}`),
		json.RawMessage(`{"id":"g2","@removed":{"reason":"changed"}}`),
		json.RawMessage(`not json`),
	}
	groups, changes, bad := graphsync.FoldGroups(items)
	if len(groups) != 3 {
		t.Fatalf("%d items, want the unreadable one as it is, g1 and g2: %s", len(groups), groups)
	}
	var g1 map[string]any
	if err := json.Unmarshal(groups[1], &g1); err != nil {
		t.Fatal(err)
	}
	if g1["displayName"] != "One" || g1["description"] != "second" || g1["members@delta"] != nil {
		t.Fatalf("g1 folded to %s", groups[1])
	}
	if _, gone := graphsync.Removed(groups[2]); !gone {
		t.Fatalf("g2 folded to %s, want its tombstone", groups[2])
	}
	if string(groups[0]) != "not json" {
		t.Fatalf("unreadable item became %s", groups[0])
	}
	want := []struct {
		member, kind string
		removed      bool
	}{{"u1", "", true}, {"u2", "#microsoft.graph.user", false}, {"g9", "#microsoft.graph.group", false}}
	if len(changes) != len(want) {
		t.Fatalf("changes %+v, want %+v", changes, want)
	}
	for i, w := range want {
		c := changes[i]
		if c.Group != "g1" || c.Member != w.member || c.Type != w.kind || c.Removed != w.removed {
			t.Errorf("change %d = %+v, want %+v", i, c, w)
		}
	}
	if len(bad) != 1 || bad[0].Group != "g1" {
		t.Fatalf("bad members %+v, want the one without an id", bad)
	}
}
