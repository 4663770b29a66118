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

// driveState is the OneDrive data behind a driveItem entry.
type driveState struct {
	folder   bool
	parent   *entry
	children int
	size     int64
	hash     uint64
	change   int
}

func driveIdentity(u *userRec) map[string]any {
	return map[string]any{"user": map[string]string{"email": u.upn, "id": u.id, "displayName": u.name}}
}

func (em *Emulator) genDrive(u *userRec, anchor time.Time, ver uint64) {
	u.drive = newCollection("#microsoft.graph.driveItem")
	u.drive.tomb = driveTomb
	var b [50]byte
	binary.LittleEndian.PutUint64(b[:], em.hash64(u.id, "drive"))
	u.driveID = "b!" + base64.RawURLEncoding.EncodeToString(b[:])
	root := em.addDriveItem(u, ver, nil, "root", true, anchor.AddDate(-1, 0, 0))
	folders := []*entry{root}
	r := u.rng
	for i := 0; i < em.cfg.DriveItemsPerUser; i++ {
		parent := folders[r.IntN(len(folders))]
		when := anchor.Add(-time.Duration(r.IntN(300*24)) * time.Hour)
		if i%5 == 0 {
			f := em.addDriveItem(u, ver, parent, pick(r, []string{"Documents", "Projets", "Receipts 2025", "写真", "Design", "Archive"})+" "+strconv.Itoa(i), true, when)
			folders = append(folders, f)
			continue
		}
		ext := pick(r, []string{".docx", ".xlsx", ".pdf", ".png", ".txt", ".pptx"})
		em.addDriveItem(u, ver, parent, pick(r, words)+"-"+strconv.Itoa(i)+ext, false, when)
	}
}

var mimeTypes = map[string]string{".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ".pdf": "application/pdf",
	".png": "image/png", ".txt": "text/plain", ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation"}

func (em *Emulator) addDriveItem(u *userRec, ver uint64, parent *entry, name string, folder bool, when time.Time) *entry {
	h := em.hash64(u.id, "driveitem", strconv.Itoa(len(u.drive.entries)))
	id := fmt.Sprintf("01%s", strings.ToUpper(base64.RawStdEncoding.EncodeToString(binary.LittleEndian.AppendUint64(nil, h))[:11]))
	id = strings.NewReplacer("+", "A", "/", "B").Replace(id) + fmt.Sprintf("%021X", h%1e15)[:21]
	st := &driveState{folder: folder, parent: parent, hash: h}
	if !folder {
		st.size = int64(1000 + u.rng.IntN(5_000_000))
	}
	o := object{}
	o.set("@odata.type", "#microsoft.graph.driveItem")
	o.set("createdDateTime", when.UTC().Format(graphTime))
	o.set("eTag", "")
	o.set("id", id)
	o.set("lastModifiedDateTime", when.UTC().Format(graphTime))
	o.set("name", name)
	webPath := "https://contoso-my.sharepoint.com/personal/" + strings.NewReplacer(".", "_", "@", "_").Replace(u.upn) + "/Documents"
	if parent != nil {
		webPath += "/" + url.PathEscape(name)
	}
	o.set("webUrl", webPath)
	o.set("cTag", "")
	o.set("size", st.size)
	o.set("createdBy", driveIdentity(u))
	o.set("lastModifiedBy", driveIdentity(u))
	if parent != nil {
		o.set("parentReference", map[string]string{"driveType": "business", "driveId": u.driveID, "id": parent.id})
	} else {
		o.set("parentReference", map[string]string{"driveType": "business", "driveId": u.driveID})
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
	}
	e := &entry{key: id, id: id, obj: o, when: when, aux: st}
	setDriveTags(e)
	e = u.drive.add(ver, e)
	if parent != nil {
		em.driveChildChanged(u, ver, parent, 1)
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
func (em *Emulator) driveChildChanged(u *userRec, ver uint64, parent *entry, delta int) {
	st := parent.aux.(*driveState)
	st.children += delta
	st.change++
	parent.obj.set("folder", map[string]int{"childCount": st.children})
	setDriveTags(parent)
	u.drive.update(ver, parent, "folder", "eTag", "cTag")
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

func (em *Emulator) mutateDrive(u *userRec, r *rand.Rand, ver uint64) string {
	var folders, files, movable []*entry
	for _, e := range u.drive.live() {
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
		e := em.addDriveItem(u, ver, pick(r, folders), fmt.Sprintf("upload-%d.txt", r.IntN(100000)), false, now)
		return "driveItem created " + e.id
	case op < 45:
		e := pick(r, files)
		st := e.aux.(*driveState)
		st.change++
		st.size += int64(r.IntN(10000))
		e.obj.set("size", st.size)
		e.obj.set("lastModifiedDateTime", now.UTC().Format(graphTime))
		setDriveTags(e)
		u.drive.update(ver, e, "size", "lastModifiedDateTime", "eTag", "cTag")
		return "driveItem edited " + e.id
	case op < 60:
		e := pick(r, movable)
		e.obj.set("name", "renamed-"+e.obj.str("name"))
		e.aux.(*driveState).change++
		setDriveTags(e)
		u.drive.update(ver, e, "name", "eTag", "cTag")
		return "driveItem renamed " + e.id
	case op < 75:
		// Move an item or a folder; a moved folder's children are not
		// re-reported, since delta carries no paths.
		e := pick(r, movable)
		dst := pick(r, folders)
		if dst == e || isDriveAncestor(e, dst) || dst == e.aux.(*driveState).parent {
			return "no-op"
		}
		old := e.aux.(*driveState).parent
		e.aux.(*driveState).parent = dst
		e.obj.set("parentReference", map[string]string{"driveType": "business", "driveId": u.driveID, "id": dst.id})
		e.aux.(*driveState).change++
		setDriveTags(e)
		u.drive.update(ver, e, "parentReference", "eTag", "cTag")
		em.driveChildChanged(u, ver, old, -1)
		em.driveChildChanged(u, ver, dst, 1)
		return "driveItem moved " + e.id
	default:
		e := pick(r, movable)
		em.deleteDriveItem(u, ver, e)
		em.driveChildChanged(u, ver, e.aux.(*driveState).parent, -1)
		return "driveItem deleted " + e.id
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

func (em *Emulator) deleteDriveItem(u *userRec, ver uint64, e *entry) {
	if e.aux.(*driveState).folder {
		for _, c := range u.drive.live() {
			if c.aux.(*driveState).parent == e {
				em.deleteDriveItem(u, ver, c)
			}
		}
	}
	u.drive.remove(ver, e)
}

func (em *Emulator) userByDrive(id string) *userRec {
	for _, u := range em.users {
		if u.driveID == id {
			return u
		}
	}
	return nil
}

// driveFor resolves users/{u}/drive and drives/{d} routes.
func (c *call) driveUser() *userRec {
	if c.user != nil {
		return c.user
	}
	c.em.mu.RLock()
	defer c.em.mu.RUnlock()
	return c.em.userByDrive(c.args["d"])
}

func (c *call) getDrive() {
	u := c.driveUser()
	if u == nil {
		c.fail(http.StatusNotFound, "itemNotFound", "The resource could not be found.")
		return
	}
	o := object{}
	o.set("id", u.driveID)
	o.set("driveType", "business")
	o.set("name", "OneDrive")
	o.set("webUrl", "https://contoso-my.sharepoint.com/personal/"+strings.NewReplacer(".", "_", "@", "_").Replace(u.upn)+"/Documents")
	o.set("owner", driveIdentity(u))
	o.set("quota", map[string]int64{"deleted": 0, "remaining": 1099511627776, "total": 1099511627776, "used": 0})
	b, _, _ := o.encode(nil, nil)
	c.writeJSON(withContext(b, c.context("drives/$entity")))
}

// driveDelta serves root/delta with function-style links, token=latest,
// and 410 resyncRequired with a Location header on expired tokens.
func (c *call) driveDelta() {
	u := c.driveUser()
	if u == nil {
		c.fail(http.StatusNotFound, "itemNotFound", "The resource could not be found.")
		return
	}
	c.serveDelta(deltaSpec{
		key: "drive/" + u.driveID, col: func() *collection { return u.drive },
		path: "/drives/" + u.driveID + "/root/delta", context: c.context("Collection(driveItem)"),
		defSize: 200, maxSize: 999, fnLinks: true, selectable: true, latest: "token",
		initial: func(c *call, q url.Values) (map[string]string, bool) {
			opts := map[string]string{}
			for k, vs := range q {
				switch strings.ToLower(strings.TrimPrefix(k, "$")) {
				case "select":
					opts["$select"] = vs[0]
				case "top":
					if n, err := strconv.Atoi(vs[0]); err != nil || n < 1 {
						return refuse(c, "invalidRequest", "Invalid $top value.")
					}
					opts["$top"] = vs[0]
				case "expand":
					opts["$expand"] = vs[0]
				default:
					return refuse(c, "invalidRequest", fmt.Sprintf("Invalid request: query option '%s' is not supported.", k))
				}
			}
			return opts, true
		},
	})
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
	var root *entry
	for _, e := range u.drive.live() {
		if e.aux.(*driveState).parent == nil {
			root = e
		}
	}
	ver := em.nextVersion()
	e := em.addDriveItem(u, ver, root, "poison.txt", false, em.now())
	e.obj.set("size", "not a number")
	u.drive.record(ver, e)
	return e.id, nil
}
