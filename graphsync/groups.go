package graphsync

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Group is a group as groups/delta serves it (learn.microsoft.com/graph/api/group-delta).
type Group struct {
	ID              string    `json:"id"`
	DisplayName     string    `json:"displayName,omitempty"`
	Description     string    `json:"description,omitempty"`
	Mail            string    `json:"mail,omitempty"`
	MailNickname    string    `json:"mailNickname,omitempty"`
	MailEnabled     *bool     `json:"mailEnabled,omitempty"`
	SecurityEnabled *bool     `json:"securityEnabled,omitempty"`
	GroupTypes      []string  `json:"groupTypes,omitempty"`
	Visibility      string    `json:"visibility,omitempty"`
	CreatedDateTime time.Time `json:"createdDateTime"`
}

// DecodeGroup decodes one group.
func DecodeGroup(raw json.RawMessage) (Group, error) { return decode[Group]("group", raw) }

// Groups is the tenant's groups and their direct members, through
// groups/delta with members (members@delta), read once per tenant by an
// application connection; a delegated connection cannot enable it.
// GroupMember.Read.All is the least privileged application permission
// Microsoft documents for group delta; User.Read.All, which user discovery
// already needs, gives the members' details.
var Groups = &Resource{
	name: "groups", service: Directory, application: "GroupMember.Read.All", tenant: true,
	shape: MemberDelta, items: groupsTable, extra: []*Table{GroupMembers},
}

// groupSelect names the group properties groups/delta tracks, members
// among them: a change to another property does not surface.
const groupSelect = "id,displayName,description,mail,mailNickname,mailEnabled,securityEnabled,groupTypes,visibility,createdDateTime,members"

var groupsTable = &Table{
	Name: "groups", Item: "group",
	Columns: []Column{{"id", Key}, {"display_name", Text}, {"mail", Text}, {"mail_nickname", Text}, {"mail_enabled", Value},
		{"security_enabled", Value}, {"group_types", Texts}, {"visibility", Text}, {"description", Text}, {"created_at", Time},
		{"raw", JSON}},
	// An updated group comes as its id plus at least the changed
	// properties, and nothing marks a whole one: every item is laid over
	// what is stored.
	Full:     func([]byte) bool { return false },
	Path:     func(_, _ string) string { return "/groups/delta?$select=" + groupSelect },
	Seen:     true,
	Tenant:   true,
	Cascades: []Cascade{{Table: GroupMembers, Column: "group_id"}},
	Map: func(raw []byte, _ MapContext) (Row, error) {
		g, err := DecodeGroup(raw)
		return Row{Values: []any{g.ID, g.DisplayName, strings.ToLower(g.Mail), g.MailNickname, g.MailEnabled,
			g.SecurityEnabled, nonNilStrings(g.GroupTypes), g.Visibility, g.Description, g.CreatedDateTime, raw}}, err
	},
}

// GroupMembers is the table of the memberships members@delta reports,
// written by the groups engine (no Map: its rows are not delta items of
// their own).
var GroupMembers = &Table{
	Name: "group_members", Item: "group membership",
	Key:     []string{"group_id", "member_id"},
	Columns: []Column{{"group_id", Key}, {"member_id", Key}, {"member_type", Text}, {"raw", JSON}},
	Seen:    true,
	Tenant:  true,
}

// nonNilStrings keeps an empty list empty rather than NULL: a security
// group's groupTypes is [] and says so.
func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// MemberChange is one entry of a group's members@delta: a member added
// (listed) or removed (@removed).
type MemberChange struct {
	Group, Member string
	// Type is the member's @odata.type (#microsoft.graph.user, ...).
	Type    string
	Removed bool
	// Raw is the entry as Graph listed it.
	Raw json.RawMessage
}

// BadMember is a members@delta entry that cannot be read, with why.
type BadMember struct {
	Group  string
	Raw    json.RawMessage
	Reason error
}

// FoldGroups reads one groups/delta page: a group may come several times,
// each time with part of its membership changes (delta-query-groups), so
// its occurrences are laid one over the other in order into one item
// without members@delta, and its membership changes returned apart, the
// last change of each membership winning. A group removed by its last
// occurrence is its tombstone, and its memberships retire with it. Items
// that are not JSON objects with an id are returned as they are, for the
// caller to quarantine.
func FoldGroups(items []json.RawMessage) (groups []json.RawMessage, changes []MemberChange, bad []BadMember) {
	type folded struct {
		obj     map[string]json.RawMessage
		raw     json.RawMessage // a tombstone, kept as Graph sent it
		members map[string]int  // member id -> index in changes
		order   []MemberChange
	}
	byID := map[string]*folded{}
	var order []string
	for _, raw := range items {
		var obj map[string]json.RawMessage
		id, ok := ID(raw)
		if !ok || id == "" || json.Unmarshal(raw, &obj) != nil {
			groups = append(groups, raw)
			continue
		}
		f := byID[id]
		if f == nil {
			f = &folded{}
			byID[id] = f
			order = append(order, id)
		}
		if _, gone := Removed(raw); gone {
			*f = folded{raw: raw}
			continue
		}
		if f.raw != nil || f.obj == nil {
			f.raw, f.obj = nil, map[string]json.RawMessage{}
		}
		delta := obj["members@delta"]
		delete(obj, "members@delta")
		for k, v := range obj {
			f.obj[k] = v
		}
		if len(delta) == 0 {
			continue
		}
		var entries []json.RawMessage
		if err := json.Unmarshal(delta, &entries); err != nil {
			bad = append(bad, BadMember{Group: id, Raw: delta, Reason: fmt.Errorf("members@delta of group %s is not a list: %w", id, err)})
			continue
		}
		if f.members == nil {
			f.members = map[string]int{}
		}
		for _, e := range entries {
			c, err := memberChange(id, e)
			if err != nil {
				bad = append(bad, BadMember{Group: id, Raw: e, Reason: err})
				continue
			}
			if i, ok := f.members[c.Member]; ok {
				f.order[i] = c
				continue
			}
			f.members[c.Member] = len(f.order)
			f.order = append(f.order, c)
		}
	}
	for _, id := range order {
		f := byID[id]
		if f.raw != nil {
			groups = append(groups, f.raw)
			continue
		}
		b, err := json.Marshal(f.obj)
		if err != nil {
			// Unreachable: the values are valid JSON taken from a decoded
			// object.
			continue
		}
		groups = append(groups, b)
		changes = append(changes, f.order...)
	}
	return groups, changes, bad
}

// errNoMemberID is a members@delta entry without a usable id.
var errNoMemberID = errors.New("without an id")

// memberChange reads one members@delta entry of group.
func memberChange(group string, raw json.RawMessage) (MemberChange, error) {
	var m struct {
		Type string          `json:"@odata.type"`
		ID   json.RawMessage `json:"id"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return MemberChange{}, fmt.Errorf("member of group %s cannot be read: %w", group, err)
	}
	var id string
	if json.Unmarshal(m.ID, &id) != nil || id == "" || len(id) > 1024 {
		return MemberChange{}, fmt.Errorf("member of group %s %w", group, errNoMemberID)
	}
	_, removed := Removed(raw)
	return MemberChange{Group: group, Member: id, Type: m.Type, Removed: removed, Raw: raw}, nil
}
