package emulator

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Drive item permissions, as learn.microsoft.com/graph/api/resources/permission,
// resources/sharinglink, api/driveitem-list-permissions and
// api/permission-get document them, and the sharing information of
// driveitem-delta ("Scanning permissions hierarchies").
//
// An item with unique permissions holds its whole access list; every other
// item inherits the list of its nearest unique ancestor (the root is
// unique), as SharePoint does: sharing an item that inherits first copies
// its inherited list. Inherited permissions keep their ids, and are served
// without inheritedFrom: "OneDrive for Business and SharePoint document
// libraries don't return the inheritedFrom property" (resources/permission).

// permission is one entry of an access list.
type permission struct {
	id    string
	roles []string
	// base marks the drive's own entries (its owner, a site's groups): not
	// sharing.
	base      bool
	linkType  string // sharing link: view or edit; "" for a grant
	scope     string // a link's scope: anonymous, organization or users
	users     []*userRec
	external  string // an address outside the tenant
	siteGroup string
	group     *groupRef
	created   time.Time
}

// groupRef names a Microsoft Entra group in grantedToV2.
type groupRef struct{ id, name, mail string }

// PermissionSpec describes a permission AddPermission adds.
type PermissionSpec struct {
	// Kind is "link" (a sharing link, the default) or "grant" (direct
	// access for people).
	Kind string
	// LinkType is view (default) or edit; Scope is anonymous, organization
	// (default) or users (specific people).
	LinkType, Scope string
	// Users (ids or UPNs) are granted access, or are the people of a
	// specific-people link; External is an address outside the tenant.
	Users    []string
	External string
	// Roles of a grant: read (default) or write.
	Roles []string
}

func claimID(claim string) string { return base64.RawURLEncoding.EncodeToString([]byte(claim)) }

// setOwnerACL gives a OneDrive's root its owner's permission.
func (em *Emulator) setOwnerACL(d *driveRec, root *entry) {
	st := root.aux.(*driveState)
	st.unique = true
	st.perms = []*permission{{id: claimID("i:0#.f|membership|" + d.user.upn), roles: []string{"owner"}, base: true, users: []*userRec{d.user}, created: d.created}}
}

// effective returns the access list e follows and the item holding it.
func effective(e *entry) (*entry, []*permission) {
	for p := e; p != nil; p = p.aux.(*driveState).parent {
		if st := p.aux.(*driveState); st.unique {
			return p, st.perms
		}
	}
	return nil, nil
}

// sharedFacet is the driveItem shared facet for an access list: the
// broadest scope of its links and grants; nil when nothing is shared.
func sharedFacet(perms []*permission) map[string]string {
	rank := map[string]int{"users": 1, "organization": 2, "anonymous": 3}
	best := ""
	for _, p := range perms {
		s := p.scope
		if p.base {
			continue
		}
		if p.linkType == "" {
			s = "users"
		}
		if rank[s] > rank[best] {
			best = s
		}
	}
	if best == "" {
		return nil
	}
	return map[string]string{"scope": best}
}

func (o *object) del(k string) {
	*o = slices.DeleteFunc(*o, func(f field) bool { return f.k == k })
}

// setShared writes e's shared facet from its access list and reports
// whether it changed.
func setShared(e *entry) bool {
	_, perms := effective(e)
	before := string(e.obj.get("shared"))
	if f := sharedFacet(perms); f != nil {
		e.obj.set("shared", f)
	} else {
		e.obj.del("shared")
	}
	return string(e.obj.get("shared")) != before
}

// inheritShared sets a new item's shared facet from its parent's list.
func (em *Emulator) inheritShared(e *entry) { setShared(e) }

// sharingChanged records that e's access list changed: e itself when the
// change was made on it (direct), and every item inheriting through it, as
// delta reports them ("includes sharing information for all items in the
// query that changed even if they inherit their permissions").
func (em *Emulator) sharingChanged(d *driveRec, ver uint64, e *entry, direct bool) {
	children := map[*entry][]*entry{}
	for _, x := range d.col.live() {
		if p := x.aux.(*driveState).parent; p != nil {
			children[p] = append(children[p], x)
		}
	}
	var walk func(x *entry, top bool)
	walk = func(x *entry, top bool) {
		if !top && x.aux.(*driveState).unique {
			return // it has its own list
		}
		setShared(x)
		marker := "sharedInherited"
		if top && direct {
			marker = "shared"
		}
		d.col.update(ver, x, marker)
		for _, c := range children[x] {
			walk(c, false)
		}
	}
	walk(e, true)
}

// addPermission adds p to e, first copying the inherited list when e
// inherits (SharePoint breaks inheritance to share an item).
func (em *Emulator) addPermission(d *driveRec, ver uint64, e *entry, p *permission) {
	st := e.aux.(*driveState)
	if !st.unique {
		_, inherited := effective(e)
		st.perms = slices.Clone(inherited)
		st.unique = true
	}
	st.perms = append(st.perms, p)
	em.sharingChanged(d, ver, e, true)
}

// genSharing shares about pct% of a drive's items: links of every scope,
// direct grants (some to people outside the tenant), drawn from r.
func (em *Emulator) genSharing(d *driveRec, ver uint64, r *rand.Rand, pct int) {
	live := d.col.live()
	for _, e := range live {
		if e.aux.(*driveState).parent == nil || r.IntN(100) >= pct {
			continue
		}
		em.addPermission(d, ver, e, em.randomPermission(d, r, e.when))
	}
}

func (em *Emulator) randomPermission(d *driveRec, r *rand.Rand, at time.Time) *permission {
	h := r.Uint64()
	p := &permission{created: at}
	switch k := r.IntN(100); {
	case k < 20:
		p.linkType, p.scope = pick(r, []string{"view", "edit"}), "anonymous"
	case k < 55:
		p.linkType, p.scope = pick(r, []string{"view", "view", "edit"}), "organization"
	case k < 80:
		p.linkType, p.scope = pick(r, []string{"view", "edit"}), "users"
	}
	people := em.users
	if d.site != nil {
		people = d.site.members
	}
	if p.linkType == "" || p.scope == "users" {
		if r.IntN(4) == 0 {
			p.external = fmt.Sprintf("partner%d@fabrikam.example", r.IntN(50))
		} else {
			p.users = []*userRec{pick(r, people)}
			if r.IntN(3) == 0 {
				p.users = append(p.users, pick(r, em.users))
				p.users = slices.Compact(p.users)
			}
		}
	}
	em.finishPermission(p, h)
	return p
}

// finishPermission gives p its roles and id.
func (em *Emulator) finishPermission(p *permission, h uint64) {
	switch {
	case p.linkType == "edit":
		p.roles = []string{"write"}
	case p.linkType == "view":
		p.roles = []string{"read"}
	case len(p.roles) == 0:
		p.roles = []string{"read"}
	}
	if p.linkType != "" {
		p.id = guidFrom(int64(h), "permission")
		return
	}
	who := p.external
	if len(p.users) > 0 {
		who = p.users[0].upn
	}
	p.id = claimID(fmt.Sprintf("i:0#.f|membership|%s|%x", who, h&0xffff))
}

func sharePointIdentity(u *userRec, siteUser int) map[string]any {
	return map[string]any{
		"user":     map[string]string{"id": u.id, "displayName": u.name, "email": u.upn},
		"siteUser": map[string]string{"id": fmt.Sprint(siteUser), "displayName": u.name, "email": u.upn, "loginName": "i:0#.f|membership|" + u.upn},
	}
}

func externalIdentity(addr string) map[string]any {
	return map[string]any{"user": map[string]string{"displayName": addr, "email": addr}}
}

// permissionObject encodes p as the permission resource shows it: a
// sharing link with its people in grantedToIdentitiesV2, or a grant with
// grantedToV2 (a user, a site group or an Entra group).
func (em *Emulator) permissionObject(p *permission, d *driveRec, item *entry) object {
	o := object{}
	o.set("id", p.id)
	o.set("roles", p.roles)
	var people []any
	for i, u := range p.users {
		people = append(people, sharePointIdentity(u, 10+i))
	}
	if p.external != "" {
		people = append(people, externalIdentity(p.external))
	}
	if p.linkType != "" {
		o.set("shareId", "u!"+base64.RawURLEncoding.EncodeToString([]byte(p.id+item.id)))
		o.set("expirationDateTime", "0001-01-01T00:00:00Z")
		o.set("hasPassword", false)
		kind := map[string]string{"view": "r", "edit": "w"}[p.linkType]
		o.set("link", map[string]any{"type": p.linkType, "scope": p.scope, "preventsDownload": false,
			"webUrl": strings.SplitN(d.webURL, "/", 4)[0] + "//" + strings.SplitN(d.webURL, "/", 4)[2] + "/:" + kind + ":/g/" + p.id})
		if p.scope == "users" {
			o.set("grantedToIdentitiesV2", people)
		}
		return o
	}
	switch {
	case p.siteGroup != "":
		o.set("grantedToV2", map[string]any{"siteGroup": map[string]string{"id": fmt.Sprint(3 + len(p.roles[0])), "displayName": p.siteGroup, "loginName": p.siteGroup}})
	case p.group != nil:
		o.set("grantedToV2", map[string]any{"group": map[string]string{"id": p.group.id, "displayName": p.group.name, "email": p.group.mail}})
	case len(people) > 0:
		o.set("grantedToV2", people[0])
	}
	return o
}

// sharingPrefs are driveitem-delta's sharing Prefer values.
type sharingPrefs struct{ hier, show bool }

func preferHas(r *http.Request, token string) bool {
	for _, v := range r.Header.Values("Prefer") {
		for _, p := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(p), token) {
				return true
			}
		}
	}
	return false
}

// sharingPrefs reads Prefer: hierarchicalsharing and deltashowsharingchanges.
// The latter needs deltashowremovedasdeleted and deltatraversepermissiongaps
// with it and an app or user granted Sites.FullControl.All, as
// driveitem-delta notes; otherwise it is refused.
func (c *call) sharingPrefs() (sharingPrefs, bool) {
	sh := sharingPrefs{hier: preferHas(c.r, "hierarchicalsharing"), show: preferHas(c.r, "deltashowsharingchanges")}
	if !sh.show {
		return sh, true
	}
	if !preferHas(c.r, "deltashowremovedasdeleted") || !preferHas(c.r, "deltatraversepermissiongaps") {
		c.fail(http.StatusBadRequest, "invalidRequest", "Prefer: deltashowsharingchanges requires deltashowremovedasdeleted and deltatraversepermissiongaps.")
		return sh, false
	}
	have := c.tok.scp
	if c.tok.app {
		have = c.tok.roles
	}
	if !hasFold(have, "Sites.FullControl.All") {
		c.fail(http.StatusForbidden, "accessDenied", "Access denied. Tracking sharing changes needs Sites.FullControl.All.")
		return sh, false
	}
	return sh, true
}

// sharingOnly reports whether every change of e after from only carried
// sharing inherited from an ancestor.
func sharingOnly(e *entry, from uint64) bool {
	seen := false
	for _, ch := range e.changes {
		if ch.ver <= from {
			continue
		}
		seen = true
		if len(ch.props) != 1 || ch.props[0] != "sharedInherited" {
			return false
		}
	}
	return seen
}

func sharingChangedSince(e *entry, from uint64) bool {
	for _, ch := range e.changes {
		if ch.ver > from && (slices.Contains(ch.props, "shared") || slices.Contains(ch.props, "sharedInherited")) {
			return true
		}
	}
	return false
}

// keep leaves out, with hierarchicalsharing, the items whose only changes
// are inherited sharing: the root of the change is reported alone.
func (sh sharingPrefs) keep() func(*entry, uint64) bool {
	if !sh.hier {
		return nil
	}
	return func(e *entry, from uint64) bool {
		return from == 0 || e.deleted || e.created > from || !sharingOnly(e, from)
	}
}

// decorate serves the sharing information the Prefer values ask for: with
// hierarchicalsharing the shared facet only on items with their own
// permissions (an empty one when nothing is shared), without it on every
// shared item; with deltashowsharingchanges the annotation
// @microsoft.graph.sharedChanged on items a permission change brought.
func (sh sharingPrefs) decorate(_ map[string]string, from uint64) func(*entry, object) object {
	if !sh.hier && !sh.show {
		return nil
	}
	return func(e *entry, o object) object {
		if sh.hier {
			if !e.aux.(*driveState).unique {
				o.del("shared")
			} else if o.get("shared") == nil {
				o.set("shared", map[string]any{})
			}
		}
		if sh.show && from > 0 && e.created <= from && sharingChangedSince(e, from) {
			o.set("@microsoft.graph.sharedChanged", "True")
		}
		return o
	}
}

// Handlers.

// driveItemFor resolves {i} (or the root) of the route's drive.
func (c *call) driveItemFor() (*driveRec, *entry) {
	d := c.driveFor()
	if d == nil {
		return nil, nil
	}
	c.em.mu.RLock()
	var e *entry
	if id, ok := c.args["i"]; ok {
		e = d.col.entries[id]
	} else {
		e = d.root()
	}
	c.em.mu.RUnlock()
	if e == nil || e.deleted {
		c.fail(http.StatusNotFound, "itemNotFound", "The resource could not be found.")
		return nil, nil
	}
	return d, e
}

// listPermissions serves .../items/{id}/permissions: the item's access
// list, inherited or its own.
func (c *call) listPermissions() {
	d, e := c.driveItemFor()
	if e == nil {
		return
	}
	items := c.encodeAll(func() []object {
		_, perms := effective(e)
		return objectsOf(perms, func(p *permission) object { return c.em.permissionObject(p, d, e) })
	})
	c.servePaged(items, c.context("drives('"+d.id+"')/items('"+e.id+"')/permissions"), 1000, 1000)
}

func (c *call) getPermission() {
	d, e := c.driveItemFor()
	if e == nil {
		return
	}
	c.em.mu.RLock()
	_, perms := effective(e)
	i := slices.IndexFunc(perms, func(p *permission) bool { return p.id == c.args["p"] })
	c.em.mu.RUnlock()
	if i < 0 {
		c.fail(http.StatusNotFound, "itemNotFound", "The resource could not be found.")
		return
	}
	c.writeEntity(func() object { return c.em.permissionObject(perms[i], d, e) }, "drives('"+d.id+"')/items('"+e.id+"')/permissions/$entity")
}

// permissionsTruth lists the access list of every live item of the drives,
// as the permissions list serves it, with @emulator.driveId,
// @emulator.itemId and @emulator.inheritedFrom (the item holding the list:
// the item itself when its permissions are its own).
func (em *Emulator) permissionsTruth(drives []*driveRec) []json.RawMessage {
	out := []json.RawMessage{}
	for _, d := range drives {
		for _, e := range d.col.live() {
			holder, perms := effective(e)
			for _, p := range perms {
				o := em.permissionObject(p, d, e)
				o.set("@emulator.driveId", d.id)
				o.set("@emulator.itemId", e.id)
				o.set("@emulator.inheritedFrom", holder.id)
				b, _, _ := o.encode(nil, nil)
				out = append(out, b)
			}
		}
	}
	return out
}

// AddPermission shares an item of a drive (a OneDrive or a library): a
// link or a grant, as PermissionSpec describes. An item that inherited its
// permissions gets its own list, a copy of the inherited one plus the new
// permission. Delta reports the item, and the items inheriting from it.
// It returns the permission's id.
func (em *Emulator) AddPermission(driveID, itemID string, spec PermissionSpec) (string, error) {
	em.mu.Lock()
	defer em.mu.Unlock()
	d, e, err := em.driveItem(driveID, itemID)
	if err != nil {
		return "", fmt.Errorf("add permission: %w", err)
	}
	p := &permission{created: em.now(), roles: spec.Roles, external: spec.External}
	switch spec.Kind {
	case "", "link":
		p.linkType, p.scope = orDefault(spec.LinkType, "view"), orDefault(spec.Scope, "organization")
		if p.linkType != "view" && p.linkType != "edit" {
			return "", fmt.Errorf("add permission: link type %q is neither view nor edit", p.linkType)
		}
		if p.scope != "anonymous" && p.scope != "organization" && p.scope != "users" {
			return "", fmt.Errorf("add permission: scope %q is not anonymous, organization or users", p.scope)
		}
	case "grant":
		for _, r := range p.roles {
			if r != "read" && r != "write" {
				return "", fmt.Errorf("add permission: role %q is neither read nor write", r)
			}
		}
	default:
		return "", fmt.Errorf("add permission: kind %q is neither link nor grant", spec.Kind)
	}
	for _, id := range spec.Users {
		u := em.lookupUser(id)
		if u == nil {
			return "", fmt.Errorf("add permission: user %q not found", id)
		}
		p.users = append(p.users, u)
	}
	if (spec.Kind == "grant" || p.scope == "users") && len(p.users) == 0 && p.external == "" {
		return "", fmt.Errorf("add permission: a grant or a specific-people link needs Users or External")
	}
	ver := em.nextVersion()
	em.finishPermission(p, em.hash64(d.id, e.id, fmt.Sprint(ver)))
	em.addPermission(d, ver, e, p)
	return p.id, nil
}

// RemovePermission removes a permission an item holds itself (not one it
// inherits, and not the drive's owner or site groups); delta reports the
// item and those inheriting from it.
func (em *Emulator) RemovePermission(driveID, itemID, permissionID string) error {
	em.mu.Lock()
	defer em.mu.Unlock()
	d, e, err := em.driveItem(driveID, itemID)
	if err != nil {
		return fmt.Errorf("remove permission: %w", err)
	}
	st := e.aux.(*driveState)
	i := slices.IndexFunc(st.perms, func(p *permission) bool { return p.id == permissionID })
	switch {
	case !st.unique || i < 0:
		return fmt.Errorf("remove permission: item %q holds no permission %q of its own", itemID, permissionID)
	case st.perms[i].base:
		return fmt.Errorf("remove permission: %q is the drive's own access, not sharing", permissionID)
	}
	st.perms = slices.Delete(slices.Clone(st.perms), i, i+1)
	em.sharingChanged(d, em.nextVersion(), e, true)
	return nil
}

// RestoreInheritance makes an item that holds its own permissions inherit
// its nearest unique ancestor's again, dropping its own list (SharePoint's
// "Delete unique permissions", ResetRoleInheritance). Delta reports the
// item as a sharing change of its own, without the shared facet under
// Prefer: hierarchicalsharing; without it, the items inheriting through it
// too. The root keeps its list.
func (em *Emulator) RestoreInheritance(driveID, itemID string) error {
	em.mu.Lock()
	defer em.mu.Unlock()
	d, e, err := em.driveItem(driveID, itemID)
	if err != nil {
		return fmt.Errorf("restore inheritance: %w", err)
	}
	st := e.aux.(*driveState)
	switch {
	case st.parent == nil:
		return fmt.Errorf("restore inheritance: item %q is the drive's root", itemID)
	case !st.unique:
		return fmt.Errorf("restore inheritance: item %q inherits already", itemID)
	}
	st.unique, st.perms = false, nil
	em.sharingChanged(d, em.nextVersion(), e, true)
	return nil
}

func (em *Emulator) driveItem(driveID, itemID string) (*driveRec, *entry, error) {
	d := em.driveByID(driveID)
	if d == nil {
		return nil, nil, fmt.Errorf("drive %q not found", driveID)
	}
	e := d.col.entries[itemID]
	if e == nil || e.deleted {
		return nil, nil, fmt.Errorf("item %q not found in drive %q", itemID, driveID)
	}
	return d, e, nil
}

// mutatePermissions shares an item of a OneDrive or library, or removes a
// sharing permission an item holds.
func (em *Emulator) mutatePermissions(r *rand.Rand, ver uint64) string {
	drives := em.allDrives()
	if len(drives) == 0 {
		return "no-op"
	}
	d := pick(r, drives)
	var shared []*entry
	var all []*entry
	for _, e := range d.col.live() {
		st := e.aux.(*driveState)
		if st.parent != nil {
			all = append(all, e)
		}
		if st.unique && slices.ContainsFunc(st.perms, func(p *permission) bool { return !p.base }) {
			shared = append(shared, e)
		}
	}
	if len(all) == 0 {
		return "no-op"
	}
	if len(shared) > 0 && r.IntN(5) < 2 {
		e := pick(r, shared)
		st := e.aux.(*driveState)
		var own []int
		for i, p := range st.perms {
			if !p.base {
				own = append(own, i)
			}
		}
		i := pick(r, own)
		id := st.perms[i].id
		st.perms = slices.Delete(slices.Clone(st.perms), i, i+1)
		em.sharingChanged(d, ver, e, true)
		return "permission removed " + d.id + "/" + e.id + "/" + id
	}
	e := pick(r, all)
	p := em.randomPermission(d, r, em.now())
	em.addPermission(d, ver, e, p)
	return "permission added " + d.id + "/" + e.id + "/" + p.id
}

// allDrives lists the users' OneDrives and the libraries.
func (em *Emulator) allDrives() []*driveRec {
	var out []*driveRec
	for _, u := range em.users {
		out = append(out, u.od)
	}
	for _, s := range em.sites {
		out = append(out, s.drives...)
	}
	return out
}
