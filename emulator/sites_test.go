package emulator

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// appTokenWith gets an app-only token for an app registered with roles.
func (b *bundle) appTokenFor(t *testing.T, clientID, secret string) string {
	t.Helper()
	st, body := b.postForm(t, "/"+b.srv.TenantID()+"/oauth2/v2.0/token", url.Values{"client_id": {clientID}, "client_secret": {secret},
		"grant_type": {"client_credentials"}, "scope": {"https://graph.microsoft.com/.default"}})
	if st != 200 {
		t.Fatalf("client credentials for %s: %d %s", clientID, st, body)
	}
	return jsonField(t, body, "access_token")
}

func decodeObj(t *testing.T, body []byte) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	delete(m, "@odata.context")
	return m
}

// Sites are addressed by id, by hostname (the root site), by
// {hostname}:/{server-relative-path} and found with ?search=; a site lists
// its document libraries, whose drive delta converges on the ground truth
// and costs SharePoint resource units.
// https://learn.microsoft.com/graph/api/site-get
// https://learn.microsoft.com/graph/api/site-search
// https://learn.microsoft.com/graph/api/drive-list
func TestSitesAndLibraries(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 51, Users: 4, MessagesPerUser: 2, DriveItemsPerLibrary: 30})
	app := b.appToken(t)
	u := b.srv.Users()[0]
	sites := truthByID(t, must(b.srv.Truth(u.ID, "sites")))
	infos := b.srv.Sites()
	if len(infos) != len(sites) || len(infos) < 4 {
		t.Fatalf("Sites() %d, truth %d", len(infos), len(sites))
	}
	var legal SiteInfo
	for _, s := range infos {
		if strings.HasSuffix(s.WebURL, "/sites/legal") {
			legal = s
		}
	}
	for path, want := range map[string]string{
		"/v1.0/sites/root":                                    infos[0].ID,
		"/v1.0/sites/contoso.sharepoint.com":                  infos[0].ID,
		"/v1.0/sites/" + legal.ID:                             legal.ID,
		"/v1.0/sites/contoso.sharepoint.com:/sites/legal":     legal.ID,
		"/v1.0/sites/contoso.sharepoint.com:/sites/legal:/":   legal.ID,
		"/v1.0/sites/contoso.sharepoint.com:/sites/Legal?$x=": "",
	} {
		if want == "" {
			continue
		}
		resp, body := b.get(t, app, path)
		if resp.StatusCode != 200 || !equalJSON(decodeObj(t, body), sites[want]) {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, body)
		}
	}
	if resp, _ := b.get(t, app, "/v1.0/sites/contoso.sharepoint.com:/sites/nowhere"); resp.StatusCode != 404 {
		t.Errorf("unknown path: %d", resp.StatusCode)
	}
	if got := b.listAll(t, app, "/v1.0/sites?search=legal"); len(got) != 1 || str(got[0], "id") != legal.ID {
		t.Errorf("search=legal: %v", ids(got))
	}
	if got := b.listAll(t, app, "/v1.0/sites?search=*"); len(got) != len(sites) {
		t.Errorf("search=*: %d sites", len(got))
	}
	drives := truthByID(t, must(b.srv.Truth(u.ID, "siteDrives")))
	byPath := b.listAll(t, app, "/v1.0/sites/contoso.sharepoint.com:/sites/legal:/drives")
	if len(byPath) != 2 || str(drives[str(byPath[0], "id")], "@emulator.siteId") != legal.ID || str(byPath[0], "driveType") != "documentLibrary" {
		t.Fatalf("legal's drives: %v", byPath)
	}

	// Each library's delta converges on the truth, and costs resource
	// units: 2 without a token, 1 with.
	items := must(b.srv.Truth(u.ID, "siteDriveItems"))
	b.srv.ResetCounters()
	state := map[string]map[string]json.RawMessage{}
	pages := 0
	for _, d := range byPath {
		b.syncRound(t, app, "/v1.0/drives/"+str(d, "id")+"/root/delta?$top=7", func(it map[string]json.RawMessage) {
			state[str(it, "id")] = it
		})
		pages += (30+1+6)/7 + 1
	}
	var want []json.RawMessage
	for _, raw := range items {
		var it struct{ ParentReference struct{ DriveID string } }
		_ = json.Unmarshal(raw, &it)
		if it.ParentReference.DriveID == str(byPath[0], "id") || it.ParentReference.DriveID == str(byPath[1], "id") {
			want = append(want, raw)
		}
	}
	equalTruth(t, "legal's libraries", state, want)
	ru, err := b.srv.MaxResourceUnitsInWindow("drive", b.srv.TenantID(), time.Hour)
	if err != nil || ru < 2*2 {
		t.Errorf("resource units of the rounds: %d %v", ru, err)
	}

	// Delegated: a member reads the site, others are refused; Sites.Read.All
	// is needed for the site itself.
	b.srv.mu.RLock()
	var member, outsider *userRec
	for _, s := range b.srv.sites {
		if s.id == legal.ID {
			member = s.members[0]
			for _, x := range b.srv.users {
				if !slices.Contains(s.members, x) {
					outsider = x
				}
			}
		}
	}
	b.srv.mu.RUnlock()
	tokIn := b.userTokens(t, "Sites.Read.All Files.Read.All", member.upn)["access_token"].(string)
	tokOut := b.userTokens(t, "Sites.Read.All Files.Read.All", outsider.upn)["access_token"].(string)
	tokFiles := b.userTokens(t, "Files.Read.All", member.upn)["access_token"].(string)
	if resp, body := b.get(t, tokIn, "/v1.0/drives/"+str(byPath[0], "id")+"/root/delta"); resp.StatusCode != 200 {
		t.Errorf("member's delta: %d %s", resp.StatusCode, body)
	}
	for _, p := range []string{"/v1.0/sites/" + legal.ID, "/v1.0/drives/" + str(byPath[0], "id") + "/root/delta"} {
		if resp, body := b.get(t, tokOut, p); resp.StatusCode != http.StatusForbidden {
			t.Errorf("outsider %s: %d %s", p, resp.StatusCode, body)
		}
	}
	if got := b.listAll(t, tokOut, "/v1.0/sites?search=*"); slices.Contains(ids(got), legal.ID) {
		t.Error("the outsider's search finds the legal site")
	}
	if resp, _ := b.get(t, tokFiles, "/v1.0/sites/"+legal.ID); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a site with Files.Read.All only: %d", resp.StatusCode)
	}
}

// Item permissions: sharing links (anonymous, organization, specific
// people) and grants, the site's groups at the root; an item that inherits
// lists its ancestor's permissions with the same ids and, as documented
// for OneDrive for Business and SharePoint, without inheritedFrom.
// https://learn.microsoft.com/graph/api/resources/permission
// https://learn.microsoft.com/graph/api/driveitem-list-permissions
func TestItemPermissions(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 52, Users: 4, MessagesPerUser: 2, DriveItemsPerLibrary: 40})
	app := b.appToken(t)
	u := b.srv.Users()[0]
	truth := map[string][]map[string]json.RawMessage{} // by drive/item
	scopes := map[string]bool{}
	inherited, own := 0, 0
	for _, raw := range must(b.srv.Truth(u.ID, "sitePermissions")) {
		p := decodeObj(t, raw)
		k := str(p, "@emulator.driveId") + "/" + str(p, "@emulator.itemId")
		if str(p, "@emulator.inheritedFrom") == str(p, "@emulator.itemId") {
			own++
		} else {
			inherited++
		}
		var link struct{ Scope string }
		_ = json.Unmarshal(p["link"], &link)
		scopes[link.Scope] = true
		if _, grant := p["grantedToV2"]; grant {
			scopes["grant"] = true
		}
		for _, a := range []string{"@emulator.driveId", "@emulator.itemId", "@emulator.inheritedFrom"} {
			delete(p, a)
		}
		truth[k] = append(truth[k], p)
	}
	for _, s := range []string{"anonymous", "organization", "users", "grant"} {
		if !scopes[s] {
			t.Errorf("no %s permission generated: %v", s, scopes)
		}
	}
	if inherited == 0 || own == 0 {
		t.Fatalf("inherited %d, own %d", inherited, own)
	}
	checked := 0
	for k, want := range truth {
		if checked++; checked > 25 {
			break
		}
		got := b.listAll(t, app, "/v1.0/drives/"+strings.Replace(k, "/", "/items/", 1)+"/permissions")
		if len(got) != len(want) {
			t.Fatalf("%s: %d permissions, truth %d", k, len(got), len(want))
		}
		for i := range got {
			if _, ok := got[i]["inheritedFrom"]; ok {
				t.Errorf("%s serves inheritedFrom", k)
			}
			if !equalJSON(got[i], want[i]) {
				t.Errorf("%s permission %d: %v, truth %v", k, i, got[i], want[i])
			}
		}
		resp, body := b.get(t, app, "/v1.0/drives/"+strings.Replace(k, "/", "/items/", 1)+"/permissions/"+url.PathEscape(str(want[0], "id")))
		if resp.StatusCode != 200 || !equalJSON(decodeObj(t, body), want[0]) {
			t.Errorf("get permission: %d %s", resp.StatusCode, body)
		}
	}

	// Sharing a folder that inherits gives it its own list (the inherited
	// one plus the link); its children list the link too, same id.
	b.srv.mu.RLock()
	d := b.srv.sites[1].drives[0]
	var folder, child *entry
	for _, e := range d.col.live() {
		st := e.aux.(*driveState)
		if st.folder && st.parent != nil && !st.unique && st.children > 0 && folder == nil {
			folder = e
		}
	}
	for _, e := range d.col.live() {
		if e.aux.(*driveState).parent == folder && !e.aux.(*driveState).unique {
			child = e
		}
	}
	driveID := d.id
	b.srv.mu.RUnlock()
	before := b.listAll(t, app, "/v1.0/drives/"+driveID+"/items/"+folder.id+"/permissions")
	pid, err := b.srv.AddPermission(driveID, folder.id, PermissionSpec{Scope: "anonymous", LinkType: "edit"})
	if err != nil {
		t.Fatal(err)
	}
	after := b.listAll(t, app, "/v1.0/drives/"+driveID+"/items/"+folder.id+"/permissions")
	kid := b.listAll(t, app, "/v1.0/drives/"+driveID+"/items/"+child.id+"/permissions")
	if len(after) != len(before)+1 || str(after[len(after)-1], "id") != pid || !slices.Equal(ids(after), ids(kid)) {
		t.Errorf("after sharing: folder %v (was %v), child %v", ids(after), ids(before), ids(kid))
	}
	var link struct{ Type, Scope, WebURL string }
	_ = json.Unmarshal(after[len(after)-1]["link"], &link)
	if link.Type != "edit" || link.Scope != "anonymous" || !strings.HasPrefix(link.WebURL, "https://contoso.sharepoint.com/") {
		t.Errorf("link: %+v", link)
	}
	if err := b.srv.RemovePermission(driveID, child.id, pid); err == nil {
		t.Error("removing an inherited permission from the child succeeded")
	}
	if err := b.srv.RemovePermission(driveID, folder.id, str(before[0], "id")); err == nil {
		t.Error("removing the site's own group from an item succeeded")
	}
	if err := b.srv.RemovePermission(driveID, folder.id, pid); err != nil {
		t.Fatal(err)
	}
	if got := b.listAll(t, app, "/v1.0/drives/"+driveID+"/items/"+child.id+"/permissions"); slices.Contains(ids(got), pid) {
		t.Error("the removed link is still inherited")
	}
	if _, err := b.srv.AddPermission(driveID, folder.id, PermissionSpec{Kind: "grant"}); err == nil {
		t.Error("a grant without people was accepted")
	}
}

// Delta reports sharing changes as driveitem-delta documents them: the
// item and, by default, the items inheriting from it; with
// Prefer: hierarchicalsharing only the root of the change, with the shared
// facet on items holding their own permissions (empty when nothing is
// shared); with deltashowsharingchanges (which needs
// deltashowremovedasdeleted, deltatraversepermissiongaps and
// Sites.FullControl.All) the @microsoft.graph.sharedChanged annotation.
func TestDeltaSharingChanges(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 53, Users: 3, MessagesPerUser: 2, DriveItemsPerLibrary: 40,
		Apps: []App{{ClientID: defaultClientID, Secret: defaultSecret, RedirectURIs: []string{defaultRedirect}},
			{ClientID: "scanner", Secret: "s", Roles: []string{"Sites.Read.All", "Sites.FullControl.All"}}}})
	app := b.appToken(t)
	full := b.appTokenFor(t, "scanner", "s")
	b.srv.mu.RLock()
	d := b.srv.sites[0].drives[0]
	var folder *entry
	var inheriting []string
	for _, e := range d.col.live() {
		st := e.aux.(*driveState)
		if st.folder && st.parent != nil && !st.unique && st.children > 1 && folder == nil {
			folder = e
		}
	}
	for _, e := range d.col.live() {
		if !isDriveAncestor(folder, e) || e == folder {
			continue
		}
		own := false // items below the folder with their own list do not change
		for p := e; p != folder; p = p.aux.(*driveState).parent {
			own = own || p.aux.(*driveState).unique
		}
		if !own {
			inheriting = append(inheriting, e.id)
		}
	}
	if len(inheriting) == 0 {
		t.Fatal("the folder has no inheriting items")
	}
	driveID := d.id
	b.srv.mu.RUnlock()
	base := "/v1.0/drives/" + driveID + "/root/delta"
	show := []string{"Prefer", "deltashowremovedasdeleted, deltatraversepermissiongaps, deltashowsharingchanges"}
	if resp, body := b.get(t, full, base, "Prefer", "deltashowsharingchanges"); resp.StatusCode != 400 {
		t.Errorf("deltashowsharingchanges alone: %d %s", resp.StatusCode, body)
	}
	if resp, body := b.get(t, app, base, show...); resp.StatusCode != http.StatusForbidden {
		t.Errorf("deltashowsharingchanges without Sites.FullControl.All: %d %s", resp.StatusCode, body)
	}
	plain := b.syncRound(t, app, base, func(map[string]json.RawMessage) {})
	hier := b.syncRound(t, app, base, func(map[string]json.RawMessage) {}, "Prefer", "hierarchicalsharing")
	shown := b.syncRound(t, full, base, func(map[string]json.RawMessage) {}, show...)

	if _, err := b.srv.AddPermission(driveID, folder.id, PermissionSpec{Scope: "organization"}); err != nil {
		t.Fatal(err)
	}
	round := func(tok, link string, hdr ...string) (map[string]map[string]json.RawMessage, string) {
		got := map[string]map[string]json.RawMessage{}
		next := b.syncRound(t, tok, link, func(it map[string]json.RawMessage) { got[str(it, "id")] = it }, hdr...)
		return got, next
	}
	got, _ := round(app, plain)
	if _, ok := got[folder.id]; !ok || string(got[folder.id]["shared"]) != `{"scope":"organization"}` {
		t.Errorf("default round lacks the shared folder: %v", got[folder.id])
	}
	for _, id := range inheriting {
		if it, ok := got[id]; !ok || it["shared"] == nil {
			t.Errorf("default round lacks inheriting item %s with its sharing", id)
		}
	}
	got, hier = round(app, hier, "Prefer", "hierarchicalsharing")
	for _, id := range inheriting {
		if _, ok := got[id]; ok {
			t.Errorf("hierarchicalsharing round reports inheriting item %s", id)
		}
	}
	if string(got[folder.id]["shared"]) != `{"scope":"organization"}` {
		t.Errorf("hierarchicalsharing: the folder %v", got[folder.id])
	}
	got, _ = round(full, shown, show...)
	if str(got[folder.id], "@microsoft.graph.sharedChanged") != "True" {
		t.Errorf("deltashowsharingchanges: the folder lacks the annotation: %v", got[folder.id])
	}
	// Unsharing leaves the folder unique with nothing shared: an empty
	// shared facet with hierarchicalsharing.
	b.srv.mu.RLock()
	st := folder.aux.(*driveState)
	pid := st.perms[len(st.perms)-1].id
	b.srv.mu.RUnlock()
	if err := b.srv.RemovePermission(driveID, folder.id, pid); err != nil {
		t.Fatal(err)
	}
	got, hier = round(app, hier, "Prefer", "hierarchicalsharing")
	if string(got[folder.id]["shared"]) != `{}` {
		t.Errorf("unshared folder with hierarchicalsharing: %v", got[folder.id])
	}
	// Deleting its unique permissions makes it inherit again: reported
	// without the facet with hierarchicalsharing, and listed so by a round
	// of ids and facets, while a GET serves the inherited list's facet.
	if err := b.srv.RestoreInheritance(driveID, folder.id); err != nil {
		t.Fatal(err)
	}
	if err := b.srv.RestoreInheritance(driveID, folder.id); err == nil {
		t.Error("restoring the inheritance of an item that inherits succeeded")
	}
	got, _ = round(app, hier, "Prefer", "hierarchicalsharing")
	if it, ok := got[folder.id]; !ok || it["shared"] != nil {
		t.Errorf("folder inheriting again with hierarchicalsharing: %v (reported %v)", it, ok)
	}
	got, _ = round(app, base+"?$select=id,shared", "Prefer", "hierarchicalsharing")
	if it, ok := got[folder.id]; !ok || it["shared"] != nil || it["name"] != nil {
		t.Errorf("listing of ids and facets: the folder %v", it)
	}
	root := ""
	for id, it := range got {
		if it["shared"] != nil && root == "" {
			root = id
		}
	}
	if root == "" {
		t.Error("listing of ids and facets: no item with a facet (the root holds its own)")
	}
	b.srv.mu.RLock()
	want := sharedFacet(func() []*permission { _, p := effective(folder); return p }())
	b.srv.mu.RUnlock()
	resp, body := b.get(t, app, "/v1.0/drives/"+driveID+"/items/"+folder.id, "Prefer", "hierarchicalsharing")
	var item map[string]json.RawMessage
	if err := json.Unmarshal(body, &item); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET folder: %d %s", resp.StatusCode, body)
	}
	if (want == nil) != (item["shared"] == nil) {
		t.Errorf("GET folder serves shared %s, its inherited list's facet is %v", item["shared"], want)
	}
}

// Library files and permissions change with mutations; delta and the
// permissions lists follow the ground truth.
func TestLibraryMutations(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 54, Users: 3, MessagesPerUser: 2, DriveItemsPerLibrary: 25})
	app := b.appToken(t)
	u := b.srv.Users()[0]
	var driveIDs []string
	for _, s := range b.srv.Sites() {
		driveIDs = append(driveIDs, s.DriveIDs...)
	}
	links := map[string]string{}
	state := map[string]map[string]json.RawMessage{}
	apply := func(it map[string]json.RawMessage) {
		if _, gone := it["deleted"]; gone {
			delete(state, str(it, "id"))
			return
		}
		state[str(it, "id")] = it
	}
	kinds := map[string]int{}
	for round := 0; round < 3; round++ {
		for _, id := range driveIDs {
			l := links[id]
			if l == "" {
				l = "/v1.0/drives/" + id + "/root/delta"
			}
			links[id] = b.syncRound(t, app, l, apply)
		}
		equalTruth(t, "library items", state, must(b.srv.Truth(u.ID, "siteDriveItems")))
		for _, m := range b.srv.Mutate(300) {
			if f := strings.Fields(m); len(f) > 1 && (f[0] == "libraryItem" || f[0] == "permission") {
				kinds[f[0]+" "+f[1]]++
			}
		}
	}
	for _, k := range []string{"libraryItem created", "libraryItem edited", "libraryItem moved", "libraryItem deleted", "permission added", "permission removed"} {
		if kinds[k] == 0 {
			t.Errorf("mutations never did %q: %v", k, kinds)
		}
	}
	// The permissions list of a shared item still matches the truth.
	for _, raw := range must(b.srv.Truth(u.ID, "sitePermissions")) {
		p := decodeObj(t, raw)
		if _, isLink := p["link"]; !isLink {
			continue
		}
		got := b.listAll(t, app, "/v1.0/drives/"+str(p, "@emulator.driveId")+"/items/"+str(p, "@emulator.itemId")+"/permissions")
		if !slices.Contains(ids(got), str(p, "id")) {
			t.Errorf("item %s lacks permission %s", str(p, "@emulator.itemId"), str(p, "id"))
		}
		break
	}
}

// A library's root takes driveItem subscriptions like a OneDrive's
// (subscription resource: driveItem "updated" on the root): a change in the
// library notifies with resourceData null.
func TestLibrarySubscription(t *testing.T) {
	t.Parallel()
	b := setup(t, notifyCfg())
	tok := b.appToken(t)
	lib := b.srv.Sites()[1].DriveIDs[0]
	rc := newReceiver(t)
	b.mustSubscribe(t, tok, sub("drives/"+lib+"/root", "updated", rc.URL()))
	b.srv.mu.RLock()
	var item string
	for _, e := range b.srv.sites[1].drives[0].col.live() {
		if e.aux.(*driveState).parent != nil {
			item = e.id
		}
	}
	b.srv.mu.RUnlock()
	if _, err := b.srv.AddPermission(lib, item, PermissionSpec{}); err != nil {
		t.Fatal(err)
	}
	waitScanned(t, b.srv.Emulator)
	d := rc.waitNotes(t, 1, nil)
	if d[0]["changeType"] != "updated" || d[0]["resource"] != "drives/"+lib+"/root" || d[0]["resourceData"] != nil {
		t.Errorf("library notification: %v", d[0])
	}
}

// The control plane lists sites and adds and removes permissions.
func TestPermissionsControlPlane(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 55, Users: 2, MessagesPerUser: 1, DriveItemsPerLibrary: 5})
	ctl := func(method, path, body string) (int, []byte) {
		req, _ := http.NewRequest(method, b.srv.URL()+path, strings.NewReader(body))
		resp, err := b.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var buf strings.Builder
		_, _ = io.Copy(&buf, resp.Body)
		return resp.StatusCode, []byte(buf.String())
	}
	st, body := ctl(http.MethodGet, "/_emulator/sites", "")
	var sites []SiteInfo
	if st != 200 || json.Unmarshal(body, &sites) != nil || len(sites) == 0 {
		t.Fatalf("sites: %d %s", st, body)
	}
	lib := sites[0].DriveIDs[0]
	b.srv.mu.RLock()
	root := b.srv.sites[0].drives[0].root().id
	b.srv.mu.RUnlock()
	st, body = ctl(http.MethodPost, "/_emulator/permissions/"+lib+"/"+root, `{"Kind":"grant","External":"guest@fabrikam.example","Roles":["write"]}`)
	var added struct{ ID string }
	if st != 200 || json.Unmarshal(body, &added) != nil || added.ID == "" {
		t.Fatalf("add: %d %s", st, body)
	}
	if st, body := ctl(http.MethodPost, "/_emulator/permissions/"+lib+"/"+root, `{"Kind":"link","Scope":"everyone"}`); st != 400 {
		t.Errorf("bad scope: %d %s", st, body)
	}
	if st, _ := ctl(http.MethodDelete, "/_emulator/permissions/"+lib+"/"+root+"/"+url.PathEscape(added.ID), ""); st != 204 {
		t.Errorf("remove: %d", st)
	}
	// An item below the root shared, then inheriting again, then deleted.
	b.srv.mu.RLock()
	var item string
	for _, e := range b.srv.sites[0].drives[0].col.live() {
		if e.aux.(*driveState).parent != nil && item == "" {
			item = e.id
		}
	}
	b.srv.mu.RUnlock()
	if st, body := ctl(http.MethodPost, "/_emulator/permissions/"+lib+"/"+item, `{"Kind":"link","Scope":"anonymous"}`); st != 200 {
		t.Fatalf("add to %s: %d %s", item, st, body)
	}
	if st, body := ctl(http.MethodDelete, "/_emulator/permissions/"+lib+"/"+item, ""); st != 204 {
		t.Errorf("restore inheritance: %d %s", st, body)
	}
	if st, _ := ctl(http.MethodDelete, "/_emulator/permissions/"+lib+"/"+item, ""); st != 404 {
		t.Errorf("restore inheritance of an item that inherits: %d, want 404", st)
	}
	if st, _ := ctl(http.MethodDelete, "/_emulator/permissions/"+lib+"/"+root, ""); st != 404 {
		t.Errorf("restore inheritance of the root: %d, want 404", st)
	}
	if st, body := ctl(http.MethodDelete, "/_emulator/driveItems/"+lib+"/"+item, ""); st != 204 {
		t.Errorf("delete item: %d %s", st, body)
	}
	if st, _ := ctl(http.MethodDelete, "/_emulator/driveItems/"+lib+"/"+item, ""); st != 404 {
		t.Errorf("delete a deleted item: %d, want 404", st)
	}
}
