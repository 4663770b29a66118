package graphsync

import (
	"crypto/rand"
	"encoding/json"
	"net/url"
)

// Permission is who may reach a drive item, and how: a sharing link or a
// grant (learn.microsoft.com/graph/api/resources/permission). OneDrive for
// Business and SharePoint do not return inheritedFrom: an item's own
// permissions are told from inherited ones by the shared facet delta
// serves with Prefer: hierarchicalsharing.
type Permission struct {
	ID                    string                  `json:"id"`
	Roles                 []string                `json:"roles,omitempty"`
	Link                  *SharingLink            `json:"link,omitempty"`
	GrantedToV2           *SharePointIdentitySet  `json:"grantedToV2,omitempty"`
	GrantedToIdentitiesV2 []SharePointIdentitySet `json:"grantedToIdentitiesV2,omitempty"`
	Invitation            *struct {
		Email string `json:"email,omitempty"`
	} `json:"invitation,omitempty"`
}

// SharingLink is a permission's link.
type SharingLink struct {
	Type  string `json:"type,omitempty"`  // view, edit, embed...
	Scope string `json:"scope,omitempty"` // anonymous, organization, users
}

// SharePointIdentitySet names who a permission is granted to.
type SharePointIdentitySet struct {
	User        *Identity `json:"user,omitempty"`
	Group       *Identity `json:"group,omitempty"`
	Application *Identity `json:"application,omitempty"`
	Device      *Identity `json:"device,omitempty"`
	SiteUser    *Identity `json:"siteUser,omitempty"`
	SiteGroup   *Identity `json:"siteGroup,omitempty"`
}

// Grantee is one who a permission reaches, as drive_item_permissions
// stores it.
type Grantee struct {
	// Type is user, group, siteGroup, application, device or external (a
	// user outside the tenant: an address and no directory id).
	Type  string `json:"type"`
	ID    string `json:"id,omitempty"`
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
}

// DecodePermission decodes one permission.
func DecodePermission(raw json.RawMessage) (Permission, error) {
	return decode[Permission]("permission", raw)
}

// Grantees lists who the permission reaches: its grant, or a link's
// people (none for a link to anyone or to the organization).
func (p Permission) Grantees() []Grantee {
	var out []Grantee
	for _, s := range append([]SharePointIdentitySet{deref(p.GrantedToV2)}, p.GrantedToIdentitiesV2...) {
		switch {
		case s.User != nil:
			g := Grantee{Type: "user", ID: s.User.ID, Name: s.User.DisplayName, Email: s.User.Email}
			if g.ID == "" {
				g.Type = "external"
			}
			out = append(out, g)
		case s.Group != nil:
			out = append(out, Grantee{Type: "group", ID: s.Group.ID, Name: s.Group.DisplayName, Email: s.Group.Email})
		case s.SiteGroup != nil:
			out = append(out, Grantee{Type: "siteGroup", ID: s.SiteGroup.ID, Name: s.SiteGroup.DisplayName})
		case s.SiteUser != nil:
			out = append(out, Grantee{Type: "user", ID: s.SiteUser.ID, Name: s.SiteUser.DisplayName, Email: s.SiteUser.Email})
		case s.Application != nil:
			out = append(out, Grantee{Type: "application", ID: s.Application.ID, Name: s.Application.DisplayName})
		case s.Device != nil:
			out = append(out, Grantee{Type: "device", ID: s.Device.ID, Name: s.Device.DisplayName})
		}
	}
	return out
}

func deref[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}

// drivePermissions are the permissions of the drive items whose
// permissions are their own; an item that inherits has none here, and
// drive_item_access resolves it to its nearest ancestor's.
var drivePermissions = &Table{
	Name: "drive_item_permissions", Item: "permission",
	// A permission an item inherited keeps its id on the item that breaks
	// inheritance: ids are unique per item only.
	Key: []string{"item_id", "id"},
	Columns: []Column{{"item_id", Key}, {"id", Key}, {"user_id", Key}, {"kind", Text}, {"link_type", Text},
		{"link_scope", Text}, {"roles", Texts}, {"grantees", JSON}, {"reaches_outside", Value}, {"raw", JSON}},
	Seen:      true,
	Container: "item_id",
	Map:       mapPermission,
}

func mapPermission(raw []byte, c MapContext) (Row, error) {
	p, err := DecodePermission(raw)
	if err != nil {
		return Row{}, err
	}
	kind, linkType, scope := "grant", "", ""
	if p.Link != nil {
		kind, linkType, scope = "link", p.Link.Type, p.Link.Scope
	}
	grantees := p.Grantees()
	outside := scope == "anonymous"
	for _, g := range grantees {
		outside = outside || g.Type == "external"
	}
	gj, err := json.Marshal(grantees)
	if err != nil {
		return Row{}, err
	}
	if len(grantees) == 0 {
		gj = []byte("[]")
	}
	return Row{Values: []any{c.Container, p.ID, c.User, kind, linkType, scope, p.Roles, json.RawMessage(gj), &outside, raw}}, nil
}

// drivePermissionDetails reads the permissions of items that hold their
// own, as delta reports them with Prefer: hierarchicalsharing: the shared
// facet only on such items (an empty one when they share nothing). An item
// reported without it inherits (again): its rows are retired, not replaced
// by a read, since OneDrive for Business and SharePoint list inherited
// permissions with the item's, without inheritedFrom.
var drivePermissionDetails = &Details{
	Table:          drivePermissions,
	Wanted:         func(raw []byte) bool { s := topString(raw, `"shared"`); return s != "" },
	RetireUnwanted: true,
	// Graph versions no access list, and delta reports an item whose
	// sharing changed: every report is a version, read again.
	Version: func([]byte) string { return rand.Text() },
	Via:     "drive_id",
	Path: func(user, drive, item string) string {
		if drive == "" {
			return user + "/drive/items/" + url.PathEscape(item) + "/permissions"
		}
		return "/drives/" + url.PathEscape(drive) + "/items/" + url.PathEscape(item) + "/permissions"
	},
}

// hierarchicalSharing asks drive delta for the shared facet on the items
// whose permissions are their own only, and to report the item where a
// sharing change was made rather than every item inheriting from it
// (driveitem-delta, "Scanning permissions hierarchies").
const hierarchicalSharing = "hierarchicalsharing"
