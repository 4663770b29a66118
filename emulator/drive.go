package emulator

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// driveRec is a drive: a user's OneDrive for Business or a SharePoint
// document library (sites.go). Its items are a change log.
type driveRec struct {
	id      string
	kind    string // driveType: "business" or "documentLibrary"
	name    string
	desc    string
	col     *collection
	user    *userRec // a OneDrive's owner
	site    *site    // a library's site
	webURL  string   // the root's webUrl
	created time.Time
	rng     *rand.Rand // sizes of new files
}

// driveState is the OneDrive data behind a driveItem entry.
type driveState struct {
	folder   bool
	parent   *entry
	children int
	size     int64
	hash     uint64
	change   int
	// unique marks an item with its own permissions (permissions.go); the
	// others inherit their nearest unique ancestor's. The root is unique.
	unique bool
	perms  []*permission
}

func driveIdentity(u *userRec) map[string]any {
	return map[string]any{"user": map[string]string{"email": u.upn, "id": u.id, "displayName": u.name}}
}

func driveIDFrom(h uint64) string {
	var b [50]byte
	binary.LittleEndian.PutUint64(b[:], h)
	return "b!" + base64.RawURLEncoding.EncodeToString(b[:])
}

func (em *Emulator) genDrive(u *userRec, anchor time.Time, ver uint64) {
	d := &driveRec{id: driveIDFrom(em.hash64(u.id, "drive")), kind: "business", name: "OneDrive", user: u, rng: u.rng,
		col: newCollection("#microsoft.graph.driveItem"), created: anchor.AddDate(-1, 0, 0),
		webURL: "https://" + em.spMyHost() + "/personal/" + strings.NewReplacer(".", "_", "@", "_").Replace(u.upn) + "/Documents"}
	d.col.tomb = driveTomb
	u.od, u.drive, u.driveID = d, d.col, d.id
	root := em.addDriveItem(d, ver, nil, "root", true, d.created)
	em.setOwnerACL(d, root)
	em.fillDrive(d, ver, anchor, em.cfg.DriveItemsPerUser, u.rng)
	em.genSharing(d, ver, rand.New(rand.NewPCG(em.hash64(u.id, "sharing"), 0x5ea)), 5)
}

// fillDrive adds n items below the root: a folder every fifth, files
// otherwise, drawn from r.
func (em *Emulator) fillDrive(d *driveRec, ver uint64, anchor time.Time, n int, r *rand.Rand) {
	folders := []*entry{d.root()}
	for i := 0; i < n; i++ {
		parent := folders[r.IntN(len(folders))]
		when := anchor.Add(-time.Duration(r.IntN(300*24)) * time.Hour)
		if i%5 == 0 {
			f := em.addDriveItem(d, ver, parent, pick(r, []string{"Documents", "Projets", "Receipts 2025", "写真", "Design", "Archive"})+" "+strconv.Itoa(i), true, when)
			folders = append(folders, f)
			continue
		}
		ext := pick(r, []string{".docx", ".xlsx", ".pdf", ".png", ".txt", ".pptx"})
		em.addDriveItem(d, ver, parent, pick(r, words)+"-"+strconv.Itoa(i)+ext, false, when)
	}
}

// root is the drive's root item.
func (d *driveRec) root() *entry {
	for _, e := range d.col.logEnt {
		if e.aux.(*driveState).parent == nil {
			return e
		}
	}
	return nil
}

// author is who creates and edits a drive's items: the OneDrive's owner,
// or one of a library's site members.
func (d *driveRec) author(h uint64) *userRec {
	if d.user != nil {
		return d.user
	}
	return d.site.members[h%uint64(len(d.site.members))]
}

var mimeTypes = map[string]string{".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ".pdf": "application/pdf",
	".png": "image/png", ".txt": "text/plain", ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation"}

func (em *Emulator) addDriveItem(d *driveRec, ver uint64, parent *entry, name string, folder bool, when time.Time) *entry {
	key := "driveitem"
	if d.user == nil {
		key = "libitem" + d.id
	}
	owner := ""
	if d.user != nil {
		owner = d.user.id
	}
	h := em.hash64(owner, key, strconv.Itoa(len(d.col.entries)))
	id := fmt.Sprintf("01%s", strings.ToUpper(base64.RawStdEncoding.EncodeToString(binary.LittleEndian.AppendUint64(nil, h))[:11]))
	id = strings.NewReplacer("+", "A", "/", "B").Replace(id) + fmt.Sprintf("%021X", h%1e15)[:21]
	st := &driveState{folder: folder, parent: parent, hash: h}
	if !folder {
		st.size = int64(1000 + d.rng.IntN(5_000_000))
	}
	who := driveIdentity(d.author(h))
	o := object{}
	o.set("@odata.type", "#microsoft.graph.driveItem")
	o.set("createdDateTime", when.UTC().Format(graphTime))
	o.set("eTag", "")
	o.set("id", id)
	o.set("lastModifiedDateTime", when.UTC().Format(graphTime))
	o.set("name", name)
	webPath := d.webURL
	if parent != nil {
		webPath += "/" + url.PathEscape(name)
	}
	o.set("webUrl", webPath)
	o.set("cTag", "")
	o.set("size", st.size)
	o.set("createdBy", who)
	o.set("lastModifiedBy", who)
	if parent != nil {
		o.set("parentReference", map[string]string{"driveType": d.kind, "driveId": d.id, "id": parent.id})
	} else {
		o.set("parentReference", map[string]string{"driveType": d.kind, "driveId": d.id})
	}
	if folder {
		o.set("folder", map[string]int{"childCount": 0})
	} else {
		ext := name[strings.LastIndex(name, "."):]
		var qx [20]byte
		binary.LittleEndian.PutUint64(qx[:], h)
		binary.LittleEndian.PutUint64(qx[8:], h*31)
		o.set("file", map[string]any{"mimeType": mimeTypes[ext], "hashes": map[string]string{"quickXorHash": base64.StdEncoding.EncodeToString(qx[:])}})
	}
	o.set("fileSystemInfo", map[string]string{"createdDateTime": when.UTC().Format(graphTime), "lastModifiedDateTime": when.UTC().Format(graphTime)})
	if parent == nil {
		o.set("root", map[string]any{})
		st.unique = true
	}
	e := &entry{key: id, id: id, obj: o, when: when, aux: st}
	setDriveTags(e)
	if parent != nil {
		em.inheritShared(e) // a new item inherits its parent's sharing
	}
	e = d.col.add(ver, e)
	if parent != nil {
		em.driveChildChanged(d, ver, parent, 1)
	}
	return e
}

func setDriveTags(e *entry) {
	st := e.aux.(*driveState)
	e.obj.set("eTag", fmt.Sprintf("\"{%X},%d\"", st.hash&0xffffffff, st.change+1))
	e.obj.set("cTag", fmt.Sprintf("\"c:{%X},%d\"", st.hash&0xffffffff, st.change+1))
}

// driveChildChanged updates a folder whose children changed; OneDrive
// reports such parents in delta (unless deltaExcludeParent is sent).
func (em *Emulator) driveChildChanged(d *driveRec, ver uint64, parent *entry, delta int) {
	st := parent.aux.(*driveState)
	st.children += delta
	st.change++
	parent.obj.set("folder", map[string]int{"childCount": st.children})
	setDriveTags(parent)
	d.col.update(ver, parent, "folder", "eTag", "cTag")
}

// driveTomb renders a deleted driveItem with the deleted facet, as
// OneDrive for Business does (no name, no @removed).
func driveTomb(dst []byte, e *entry, id string) []byte {
	o := object{}
	o.set("@odata.type", "#microsoft.graph.driveItem")
	o.set("id", id)
	o = append(o, field{"parentReference", e.obj.get("parentReference")})
	if e.aux.(*driveState).folder {
		o.set("folder", map[string]any{})
	} else {
		o = append(o, field{"file", e.obj.get("file")})
	}
	o.set("deleted", map[string]string{"state": "deleted"})
	b, _, _ := o.encode(nil, nil)
	return append(dst, b...)
}

// mutateDrive creates, edits, renames, moves and deletes items of d.
func (em *Emulator) mutateDrive(d *driveRec, r *rand.Rand, ver uint64) string {
	var folders, files, movable []*entry
	for _, e := range d.col.live() {
		st := e.aux.(*driveState)
		if st.folder {
			folders = append(folders, e)
		} else {
			files = append(files, e)
		}
		if st.parent != nil {
			movable = append(movable, e) // everything but the root
		}
	}
	now := em.now()
	op := r.IntN(100)
	if op >= 25 && op < 45 && len(files) == 0 {
		op = 0 // nothing to edit yet (a drive of folders only): upload instead
	}
	switch {
	case op < 25 || len(movable) == 0:
		e := em.addDriveItem(d, ver, pick(r, folders), fmt.Sprintf("upload-%d.txt", r.IntN(100000)), false, now)
		return "driveItem created " + e.id
	case op < 45:
		e := pick(r, files)
		st := e.aux.(*driveState)
		st.change++
		st.size += int64(r.IntN(10000))
		e.obj.set("size", st.size)
		e.obj.set("lastModifiedDateTime", now.UTC().Format(graphTime))
		setDriveTags(e)
		d.col.update(ver, e, "size", "lastModifiedDateTime", "eTag", "cTag")
		return "driveItem edited " + e.id
	case op < 60:
		e := pick(r, movable)
		e.obj.set("name", "renamed-"+e.obj.str("name"))
		e.aux.(*driveState).change++
		setDriveTags(e)
		d.col.update(ver, e, "name", "eTag", "cTag")
		return "driveItem renamed " + e.id
	case op < 75:
		// Move an item or a folder; a moved folder's children are not
		// re-reported, since delta carries no paths.
		e := pick(r, movable)
		dst := pick(r, folders)
		if dst == e || isDriveAncestor(e, dst) || dst == e.aux.(*driveState).parent {
			return "no-op"
		}
		em.moveDriveItem(d, ver, e, dst)
		return "driveItem moved " + e.id
	default:
		e := pick(r, movable)
		em.deleteDriveItem(d, ver, e)
		em.driveChildChanged(d, ver, e.aux.(*driveState).parent, -1)
		return "driveItem deleted " + e.id
	}
}

// moveDriveItem moves e below dst. An item that inherits its permissions
// inherits its new parent's from then on.
func (em *Emulator) moveDriveItem(d *driveRec, ver uint64, e, dst *entry) {
	st := e.aux.(*driveState)
	old := st.parent
	st.parent = dst
	e.obj.set("parentReference", map[string]string{"driveType": d.kind, "driveId": d.id, "id": dst.id})
	st.change++
	setDriveTags(e)
	d.col.update(ver, e, "parentReference", "eTag", "cTag")
	em.driveChildChanged(d, ver, old, -1)
	em.driveChildChanged(d, ver, dst, 1)
	if !st.unique {
		em.sharingChanged(d, ver, e, false)
	}
}

func isDriveAncestor(a, b *entry) bool {
	for p := b; p != nil; p = p.aux.(*driveState).parent {
		if p == a {
			return true
		}
	}
	return false
}

func (em *Emulator) deleteDriveItem(d *driveRec, ver uint64, e *entry) {
	if e.aux.(*driveState).folder {
		for _, c := range d.col.live() {
			if c.aux.(*driveState).parent == e {
				em.deleteDriveItem(d, ver, c)
			}
		}
	}
	em.removeDriveEntry(d, ver, e)
}

// removeDriveEntry deletes an item: a tombstone in the change log, or none
// when Config.MissedChanges drops it (missed.go).
func (em *Emulator) removeDriveEntry(d *driveRec, ver uint64, e *entry) {
	if em.silentDrop(e) {
		e.deleted, e.silent = true, true
		return
	}
	d.col.remove(ver, e)
}

// driveByID finds a OneDrive or a library; em.mu held.
func (em *Emulator) driveByID(id string) *driveRec {
	for _, u := range em.users {
		if u.driveID == id {
			return u.od
		}
	}
	for _, s := range em.sites {
		for _, d := range s.drives {
			if d.id == id {
				return d
			}
		}
	}
	return nil
}

// driveFor resolves the drive a route names: users/{u}/drive,
// drives/{d}, sites/{s}/drive. On failure it has answered 404, or 403 when
// a delegated caller may not read the library's site.
func (c *call) driveFor() *driveRec {
	c.em.mu.RLock()
	var d *driveRec
	switch {
	case c.user != nil:
		d = c.user.od
	case c.args["s"] != "":
		if s := c.em.siteByID(c.args["s"]); s != nil && len(s.drives) > 0 {
			d = s.drives[0]
		}
	default:
		d = c.em.driveByID(c.args["d"])
	}
	c.em.mu.RUnlock()
	if d == nil {
		c.fail(http.StatusNotFound, "itemNotFound", "The resource could not be found.")
		return nil
	}
	if d.site != nil && !c.siteAllowed(d.site) {
		return nil
	}
	return d
}

func (em *Emulator) driveObject(d *driveRec) object {
	o := object{}
	o.set("id", d.id)
	o.set("driveType", d.kind)
	o.set("name", d.name)
	if d.site != nil {
		o.set("createdDateTime", d.created.UTC().Format(graphTime))
		o.set("description", d.desc)
		o.set("lastModifiedDateTime", d.created.UTC().Format(graphTime))
	}
	o.set("webUrl", d.webURL)
	if d.user != nil {
		o.set("owner", driveIdentity(d.user))
	} else {
		o.set("owner", map[string]any{"group": map[string]string{"id": d.site.groupID, "displayName": d.site.displayName + " Owners"}})
	}
	o.set("quota", map[string]int64{"deleted": 0, "remaining": 1099511627776, "total": 1099511627776, "used": 0})
	return o
}

func (c *call) getDrive() {
	d := c.driveFor()
	if d == nil {
		return
	}
	c.writeEntity(func() object { return c.em.driveObject(d) }, "drives/$entity")
}

// driveDelta serves root/delta with function-style links, token=latest,
// 410 resyncRequired with a Location header on expired tokens, and the
// sharing Prefer values (permissions.go).
func (c *call) driveDelta() {
	d := c.driveFor()
	if d == nil {
		return
	}
	sh, ok := c.sharingPrefs()
	if !ok {
		return
	}
	c.serveDelta(deltaSpec{
		key: "drive/" + d.id, col: func() *collection { return d.col },
		path: "/drives/" + d.id + "/root/delta", context: c.context("Collection(driveItem)"),
		defSize: 200, maxSize: 999, fnLinks: true, selectable: true, latest: "token",
		initial: func(c *call, q url.Values) (map[string]string, bool) {
			return deltaOptions(c, q, "invalidRequest", "Invalid request: query option '%s' is not supported.", map[string]deltaOption{
				"select": carry, "expand": carry,
				"top": func(c *call, v string) (string, bool) {
					if n, err := strconv.Atoi(v); err != nil || n < 1 {
						return reject(c, "invalidRequest", "Invalid $top value.")
					}
					return v, true
				},
			})
		},
		filter: func(map[string]string) func(*entry, uint64) bool { return sh.keep() },
		expand: sh.decorate,
	})
}

// DeleteDriveItem deletes an item of a drive (a OneDrive or a library),
// and everything below a folder, as a mutation does: delta reports each
// with the deleted facet (or, with Config.MissedChanges, may not).
func (em *Emulator) DeleteDriveItem(driveID, itemID string) error {
	em.mu.Lock()
	defer em.mu.Unlock()
	d, e, err := em.driveItem(driveID, itemID)
	if err != nil {
		return fmt.Errorf("delete drive item: %w", err)
	}
	parent := e.aux.(*driveState).parent
	if parent == nil {
		return fmt.Errorf("delete drive item: %q is the drive's root", itemID)
	}
	ver := em.nextVersion()
	em.deleteDriveItem(d, ver, e)
	em.driveChildChanged(d, ver, parent, -1)
	return nil
}

// AddPoisonDriveItem adds a file under the user's drive root whose size is
// not a number, as a record a client cannot decode; it returns its id.
func (em *Emulator) AddPoisonDriveItem(userID string) (string, error) {
	em.mu.Lock()
	defer em.mu.Unlock()
	u := em.lookupUser(userID)
	if u == nil {
		return "", fmt.Errorf("emulator: no user %q", userID)
	}
	ver := em.nextVersion()
	e := em.addDriveItem(u.od, ver, u.od.root(), "poison.txt", false, em.now())
	e.obj.set("size", "not a number")
	u.drive.record(ver, e)
	return e.id, nil
}
