package emulator

import (
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// SharePoint sites and their document libraries, as
// learn.microsoft.com/graph/api/site-get, api/site-search,
// api/drive-list (sites/{id}/drives), api/driveitem-get,
// api/driveitem-list-children and api/driveitem-delta document them.

// site is a SharePoint site.
type site struct {
	id          string // hostname,site-collection-guid,site-guid
	host        string // the tenant's SharePoint host
	path        string // server-relative path, "/" for the root site
	name        string
	displayName string
	desc        string
	created     time.Time
	// members read the site with delegated tokens; everyone: every user of
	// the tenant does (the root site).
	members  []*userRec
	everyone bool
	groupID  string // the connected Microsoft 365 group (team), if any
	drives   []*driveRec
}

var sitesScopes = []string{"Sites.Read.All", "Sites.ReadWrite.All", "Sites.Manage.All", "Sites.FullControl.All"}

func siteRoutes() []route {
	files := append(slices.Clone(filesScopes), "Sites.ReadWrite.All", "Sites.Manage.All", "Sites.FullControl.All")
	fileRoles := append(slices.Clone(filesRoles), "Sites.Manage.All", "Sites.FullControl.All")
	return []route{
		{"sites", svcDrive, sitesScopes, sitesScopes, (*call).listSites},
		{"sites/{s}", svcDrive, sitesScopes, sitesScopes, (*call).getSite},
		{"sites/{s}/drives", svcDrive, sitesScopes, sitesScopes, (*call).listSiteDrives},
		{"sites/{s}/drive", svcDrive, files, fileRoles, (*call).getDrive},
		{"sites/{s}/drive/root/delta", svcDrive, files, fileRoles, (*call).driveDelta},
		{"drives/{d}/root", svcDrive, files, fileRoles, (*call).getDriveItem},
		{"drives/{d}/items/{i}", svcDrive, files, fileRoles, (*call).getDriveItem},
		{"drives/{d}/root/children", svcDrive, files, fileRoles, (*call).listChildren},
		{"drives/{d}/items/{i}/children", svcDrive, files, fileRoles, (*call).listChildren},
		{"users/{u}/drive/root/children", svcDrive, files, fileRoles, (*call).listChildren},
		{"users/{u}/drive/items/{i}", svcDrive, files, fileRoles, (*call).getDriveItem},
		{"users/{u}/drive/items/{i}/children", svcDrive, files, fileRoles, (*call).listChildren},
		{"drives/{d}/items/{i}/permissions", svcDrive, files, fileRoles, (*call).listPermissions},
		{"drives/{d}/items/{i}/permissions/{p}", svcDrive, files, fileRoles, (*call).getPermission},
		{"users/{u}/drive/items/{i}/permissions", svcDrive, files, fileRoles, (*call).listPermissions},
	}
}

// genSites builds the root site (every user reads it), a team site for
// each team (its members) and a site without a group, each with two
// document libraries of Config.DriveItemsPerLibrary items, some of them
// shared.
func (em *Emulator) genSites(anchor time.Time) {
	if len(em.users) == 0 {
		return
	}
	ver := em.nextVersion()
	add := func(path, name, display, desc string, members []*userRec, everyone bool, groupID string) {
		s := &site{host: em.spHost(), path: path, name: name, displayName: display, desc: desc, members: members, everyone: everyone, groupID: groupID,
			id:      em.spHost() + "," + guidFrom(em.cfg.Seed, "site collection "+path) + "," + guidFrom(em.cfg.Seed, "site "+path),
			created: anchor.AddDate(-2, 0, len(em.sites))}
		em.sites = append(em.sites, s)
		r := rand.New(rand.NewPCG(uint64(em.cfg.Seed), em.hash64("site", path)))
		for i, lib := range []string{"Documents", pick(r, []string{"Contracts", "Design Assets", "Rapports", "資料"})} {
			d := &driveRec{id: driveIDFrom(em.hash64("library", path, lib)), kind: "documentLibrary", name: lib, site: s, rng: r,
				col: newCollection("#microsoft.graph.driveItem"), created: s.created.Add(time.Duration(i) * time.Hour)}
			d.desc = "The " + lib + " of " + display
			folder := url.PathEscape(lib)
			if i == 0 {
				folder, d.desc = "Shared%20Documents", ""
			}
			d.webURL = s.webURL() + "/" + folder
			d.col.tomb = driveTomb
			s.drives = append(s.drives, d)
			root := em.addDriveItem(d, ver, nil, "root", true, d.created)
			root.aux.(*driveState).perms = em.siteACL(s)
			em.fillDrive(d, ver, anchor, em.cfg.DriveItemsPerLibrary, r)
			em.genSharing(d, ver, r, 15)
		}
	}
	add("/", "", "Communication site", "Contoso's intranet", slices.Clone(em.users), true, "")
	for _, tm := range em.teams {
		name := strings.ReplaceAll(asciiFold(tm.name), "-", "")
		add("/sites/"+name, name, tm.name, tm.desc, slices.Clone(tm.members), false, tm.id)
	}
	add("/sites/legal", "legal", "Legal", "Contracts and counsel", slices.Clone(em.users[:min(2, len(em.users))]), false, "")
}

func (s *site) webURL() string {
	if s.path == "/" {
		return "https://" + s.host
	}
	return "https://" + s.host + s.path
}

// siteACL is a library root's default access list: the site's owners,
// members and visitors. A team site's members are its Microsoft 365 group.
func (em *Emulator) siteACL(s *site) []*permission {
	at := s.created
	owners := &permission{id: claimID("c:0o.c|federateddirectoryclaimprovider|" + s.id + "_o"), roles: []string{"owner"}, base: true, siteGroup: s.displayName + " Owners", created: at}
	members := &permission{id: claimID("c:0o.c|federateddirectoryclaimprovider|" + s.id), roles: []string{"write"}, base: true, siteGroup: s.displayName + " Members", created: at}
	if s.groupID != "" {
		members.siteGroup = ""
		members.group = &groupRef{id: s.groupID, name: s.displayName, mail: s.name + "@contoso.onmicrosoft.com"}
	}
	visitors := &permission{id: claimID("c:0-.f|rolemanager|" + s.id + "_v"), roles: []string{"read"}, base: true, siteGroup: s.displayName + " Visitors", created: at}
	if s.everyone {
		visitors.siteGroup = "Everyone except external users"
	}
	return []*permission{owners, members, visitors}
}

// siteByID resolves a site id, a hostname (the root site) or "root";
// em.mu held.
func (em *Emulator) siteByID(id string) *site {
	for _, s := range em.sites {
		switch {
		case strings.EqualFold(s.id, id),
			s.path == "/" && (strings.EqualFold(id, "root") || strings.EqualFold(id, em.spHost())):
			return s
		}
	}
	return nil
}

// siteByPath resolves {hostname}:/{server-relative-path}; em.mu held.
func (em *Emulator) siteByPath(host, path string) *site {
	if !strings.EqualFold(host, em.spHost()) {
		return nil
	}
	path = "/" + strings.Trim(path, "/")
	for _, s := range em.sites {
		if strings.EqualFold(s.path, path) {
			return s
		}
	}
	return nil
}

// siteAllowed reports whether the caller may read s: applications (with
// their role), and users among its members; others are refused 403.
func (c *call) siteAllowed(s *site) bool {
	if c.tok.app || s.everyone || slices.ContainsFunc(s.members, func(u *userRec) bool { return u.id == c.tok.oid }) {
		return true
	}
	c.fail(http.StatusForbidden, "accessDenied", "Access denied")
	return false
}

func (em *Emulator) siteObject(s *site) object {
	o := object{}
	o.set("id", s.id)
	o.set("createdDateTime", s.created.UTC().Format(graphTime))
	o.set("description", s.desc)
	o.set("displayName", s.displayName)
	o.set("lastModifiedDateTime", s.created.UTC().Format(graphTime))
	o.set("name", s.name)
	o.set("webUrl", s.webURL())
	o.set("siteCollection", map[string]string{"hostname": em.spHost()})
	if s.path == "/" {
		o.set("root", map[string]any{})
	}
	return o
}

// siteFor resolves {s}; on failure it has answered.
func (c *call) siteFor() *site {
	c.em.mu.RLock()
	s := c.em.siteByID(c.args["s"])
	c.em.mu.RUnlock()
	if s == nil {
		c.fail(http.StatusNotFound, "itemNotFound", "Requested site could not be found")
		return nil
	}
	if !c.siteAllowed(s) {
		return nil
	}
	return s
}

func (c *call) getSite() {
	s := c.siteFor()
	if s == nil {
		return
	}
	c.writeEntity(func() object { return c.em.siteObject(s) }, "sites/$entity")
}

// listSites serves /sites?search=: sites whose name, title, description or
// URL contains the words ("*" lists every site); without search, every
// site. A delegated caller sees the sites it may read.
func (c *call) listSites() {
	q, searched := query(c.r.URL.Query(), "search")
	q = strings.ToLower(strings.Trim(strings.TrimSpace(q), `"`))
	items := c.encodeAll(func() []object {
		return objectsOf(c.em.sites, func(s *site) object {
			hay := strings.ToLower(s.name + " " + s.displayName + " " + s.desc + " " + s.webURL())
			if (!c.tok.app && !s.everyone && !slices.ContainsFunc(s.members, func(u *userRec) bool { return u.id == c.tok.oid })) ||
				(searched && q != "*" && q != "" && !strings.Contains(hay, q)) {
				return nil
			}
			return c.em.siteObject(s)
		})
	})
	c.servePaged(items, c.context("sites"), 200, 999)
}

func (c *call) listSiteDrives() {
	s := c.siteFor()
	if s == nil {
		return
	}
	items := c.encodeAll(func() []object { return objectsOf(s.drives, c.em.driveObject) })
	c.servePaged(items, c.context("drives"), 200, 999)
}

func (c *call) getDriveItem() {
	d, e := c.driveItemFor()
	if e == nil {
		return
	}
	c.writeEntity(func() object { return e.obj }, "drives('"+d.id+"')/items/$entity")
}

// listChildren serves .../children: the folder's live children by name,
// 200 a page by default, $top up to 999, $select (id-only listings for
// reconciliation), $skiptoken links.
func (c *call) listChildren() {
	d, e := c.driveItemFor()
	if e == nil {
		return
	}
	items := c.encodeAll(func() []object {
		kids := slices.DeleteFunc(d.col.live(), func(x *entry) bool { return x.aux.(*driveState).parent != e })
		sortEntries(kids, func(a, b *entry) bool { return a.obj.str("name") < b.obj.str("name") })
		return objectsOf(kids, func(x *entry) object { return x.obj })
	})
	c.servePaged(items, c.context("drives('"+d.id+"')/items('"+e.id+"')/children"), 200, 999)
}

// Ground truth: tenant-wide, whichever user asks.

func (em *Emulator) sitesTruth() []json.RawMessage {
	out := []json.RawMessage{}
	for _, s := range em.sites {
		b, _, _ := em.siteObject(s).encode(nil, nil)
		out = append(out, b)
	}
	return out
}

func (em *Emulator) libraries() []*driveRec {
	var out []*driveRec
	for _, s := range em.sites {
		out = append(out, s.drives...)
	}
	return out
}

func (em *Emulator) siteDrivesTruth() []json.RawMessage {
	out := []json.RawMessage{}
	for _, s := range em.sites {
		for _, d := range s.drives {
			o := em.driveObject(d)
			o.set("@emulator.siteId", s.id)
			b, _, _ := o.encode(nil, nil)
			out = append(out, b)
		}
	}
	return out
}

// SiteInfo is a SharePoint site: its id, its webUrl (the URL --sites
// takes, e.g. https://contoso.sharepoint.com/sites/legal), its title and
// its libraries' drive ids.
type SiteInfo struct {
	ID, WebURL, DisplayName string
	DriveIDs                []string
}

// Sites lists the tenant's SharePoint sites and their libraries.
func (em *Emulator) Sites() []SiteInfo {
	em.mu.RLock()
	defer em.mu.RUnlock()
	var out []SiteInfo
	for _, s := range em.sites {
		si := SiteInfo{ID: s.id, WebURL: s.webURL(), DisplayName: s.displayName}
		for _, d := range s.drives {
			si.DriveIDs = append(si.DriveIDs, d.id)
		}
		out = append(out, si)
	}
	return out
}

// mutateLibraries adds, edits, renames, moves and deletes files in a
// library.
func (em *Emulator) mutateLibraries(r *rand.Rand, ver uint64) string {
	libs := em.libraries()
	if len(libs) == 0 {
		return "no-op"
	}
	d := pick(r, libs)
	what := em.mutateDrive(d, r, ver)
	if f := strings.Fields(what); len(f) == 3 {
		return "libraryItem " + f[1] + " " + d.id + "/" + f[2]
	}
	return what
}

// rewriteSitePath turns path-based addressing, sites/{hostname}:/{path}[:/...],
// into sites/{site-id}/...; an unknown path gets an id no site has.
func (em *Emulator) rewriteSitePath(segs []string) []string {
	if len(segs) < 2 || !strings.EqualFold(segs[0], "sites") || !strings.HasSuffix(segs[1], ":") {
		return segs
	}
	host := strings.TrimSuffix(segs[1], ":")
	var path []string
	rest := segs[2:]
	for i, p := range rest {
		if strings.HasSuffix(p, ":") {
			path = append(path, strings.TrimSuffix(p, ":"))
			rest = rest[i+1:]
			break
		}
		path = append(path, p)
		if i == len(rest)-1 {
			rest = nil
		}
	}
	em.mu.RLock()
	s := em.siteByPath(host, strings.Join(path, "/"))
	em.mu.RUnlock()
	id := host + ":/" + strings.Join(path, "/") + " (not found)"
	if s != nil {
		id = s.id
	}
	return append([]string{"sites", id}, rest...)
}
