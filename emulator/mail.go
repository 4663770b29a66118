package emulator

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

type mailbox struct {
	rootID  string
	folders *collection // mailFolders delta
	byID    map[string]*folder
	order   []*folder
	msgs    map[string]*message // by immutable id
	byMsgID map[string]*message // by default id (of the message's current visit)
	nextMsg int
	lazy    *lazyArchive // Config.LazyMessages; nil for most users
}

type folder struct {
	id, name, parent, wellKnown string
	hidden, gone                bool
	e                           *entry
	msgs                        *collection
}

type message struct {
	imm    string
	f      *folder
	gen    int
	e      *entry
	read   bool
	hash   uint64
	change int
	atts   []*attachment // attachments.go
}

var wellKnownFolders = []struct{ wk, name string }{
	{"inbox", "Inbox"}, {"drafts", "Drafts"}, {"sentitems", "Sent Items"}, {"deleteditems", "Deleted Items"},
	{"archive", "Archive"}, {"junkemail", "Junk Email"}, {"outbox", "Outbox"},
}

func (mb *mailbox) folderList() []*folder {
	var out []*folder
	for _, f := range mb.order {
		if !f.gone {
			out = append(out, f)
		}
	}
	return out
}

// folder resolves an id or a well-known name.
func (mb *mailbox) folder(id string) *folder {
	if f, ok := mb.byID[id]; ok && !f.gone {
		return f
	}
	for _, f := range mb.order {
		if f.wellKnown != "" && strings.EqualFold(f.wellKnown, id) && !f.gone {
			return f
		}
	}
	return nil
}

func (em *Emulator) genMail(u *userRec, anchor time.Time) {
	mb := &mailbox{folders: newCollection("#microsoft.graph.mailFolder"), byID: map[string]*folder{}, msgs: map[string]*message{},
		byMsgID: map[string]*message{}}
	u.mail = mb
	mb.rootID = outlookID("AAMkAG", em.hash64(u.id, "root"), 1)
	ver := em.nextVersion()
	for _, wk := range wellKnownFolders {
		em.addFolder(u, ver, wk.name, mb.rootID, wk.wk)
	}
	inbox := mb.folder("inbox")
	proj := em.addFolder(u, ver, "Projects", inbox.id, "")
	em.addFolder(u, ver, "Receipts", inbox.id, "")
	em.addFolder(u, ver, "2025 — Планы", proj.id, "")
	// Spread: most mail in Inbox, then Sent Items, Archive, children.
	weights := map[string]int{"inbox": 45, "sentitems": 20, "archive": 12, "drafts": 3, "deleteditems": 5, "junkemail": 2}
	var pool []*folder
	for _, f := range mb.order {
		w := weights[f.wellKnown]
		if f.wellKnown == "" {
			w = 4
		}
		for i := 0; i < w; i++ {
			pool = append(pool, f)
		}
	}
	n := em.cfg.MessagesPerUser
	for i := 0; i < n; i++ {
		// Newest first, so that log order is receivedDateTime descending.
		received := anchor.Add(-time.Duration(i) * (365 * 24 * time.Hour / time.Duration(max(n, 1)))).Add(-time.Duration(u.rng.IntN(3600)) * time.Second)
		em.addMessage(u, ver, pick(u.rng, pool), received)
	}
	if n := em.cfg.LazyMessages; n > 0 && u == em.users[0] {
		em.genLazyArchive(u, ver, anchor, n)
	}
	for _, f := range mb.order {
		em.refreshFolder(u, f, ver)
	}
}

func (em *Emulator) addFolder(u *userRec, ver uint64, name, parent, wk string) *folder {
	mb := u.mail
	id := outlookID("AAMkAG", em.hash64(u.id, "folder", name, parent, strconv.Itoa(len(mb.order))), uint64(len(mb.order)))
	f := &folder{id: id, name: name, parent: parent, wellKnown: wk, msgs: newCollection("#microsoft.graph.message")}
	o := object{}
	o.set("@odata.type", "#microsoft.graph.mailFolder")
	o.set("id", id)
	o.set("displayName", name)
	o.set("parentFolderId", parent)
	o.set("childFolderCount", 0)
	o.set("unreadItemCount", 0)
	o.set("totalItemCount", 0)
	o.set("sizeInBytes", 0)
	o.set("isHidden", false)
	f.e = mb.folders.add(ver, &entry{key: id, id: id, obj: o})
	mb.byID[id] = f
	mb.order = append(mb.order, f)
	if p := mb.byID[parent]; p != nil {
		em.refreshFolder(u, p, ver)
	}
	return f
}

// refreshFolder recomputes a folder's counts and records an update when
// they changed, as Outlook reports count changes in mailFolders delta.
func (em *Emulator) refreshFolder(u *userRec, f *folder, ver uint64) {
	if f.gone {
		return
	}
	children, total, unread, size := 0, 0, 0, 0
	for _, g := range u.mail.order {
		if !g.gone && g.parent == f.id {
			children++
		}
	}
	for _, e := range f.msgs.entries {
		if m, ok := e.aux.(*message); ok && !e.deleted {
			total++
			size += len(e.full)
			if !m.read {
				unread++
			}
		}
	}
	if a := f.msgs.lazy; a != nil {
		total, unread, size = total+a.n, unread+a.unread, size+a.size
	}
	o := f.e.obj
	var changed []string
	for _, kv := range []struct {
		k string
		v int
	}{{"childFolderCount", children}, {"unreadItemCount", unread}, {"totalItemCount", total}, {"sizeInBytes", size}} {
		if string(o.get(kv.k)) != strconv.Itoa(kv.v) {
			o.set(kv.k, kv.v)
			changed = append(changed, kv.k)
		}
	}
	f.e.obj = o
	if len(changed) > 0 {
		u.mail.folders.update(ver, f.e, changed...)
	}
}

func changeKey(h uint64, n int) string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:], h)
	binary.LittleEndian.PutUint64(b[8:], uint64(n))
	return "CQAAABYAAA" + base64.StdEncoding.EncodeToString(b[:])
}

func recipient(name, addr string) map[string]any {
	return map[string]any{"emailAddress": map[string]string{"name": name, "address": addr}}
}

// addMessage creates a message with realistic content.
func (em *Emulator) addMessage(u *userRec, ver uint64, f *folder, received time.Time) *message {
	mb := u.mail
	mb.nextMsg++
	h := em.hash64(u.id, "msg", strconv.Itoa(mb.nextMsg))
	o, read := em.messageObject(u, u.rng, h, f, received)
	m := &message{imm: outlookID("AAkALg", h, 0), hash: h, read: read, f: f, atts: em.generatedAttachments(h, o, received)}
	mb.msgs[m.imm] = m
	em.placeMessage(u, ver, m, f, o)
	return m
}

// messageObject builds a message of u in folder f from the draws of r and
// the hash h (which its ids, change key and conversation derive from). Its
// id is left empty for placeMessage (or the lazy archive) to fill in. It
// returns the object and whether the message is read.
func (em *Emulator) messageObject(u *userRec, r *rand.Rand, h uint64, f *folder, received time.Time) (object, bool) {
	imm := outlookID("AAkALg", h, 0)
	read := r.IntN(3) > 0
	other := em.users[r.IntN(len(em.users))]
	from, to := recipient(other.name, other.upn), []any{recipient(u.name, u.upn)}
	if f.wellKnown == "sentitems" || f.wellKnown == "drafts" {
		from, to = recipient(u.name, u.upn), []any{recipient(other.name, other.upn)}
	}
	cc := []any{}
	for i := r.IntN(3); i > 0; i-- {
		o := em.users[r.IntN(len(em.users))]
		cc = append(cc, recipient(o.name, o.upn))
	}
	if r.IntN(4) == 0 {
		cc = append(cc, recipient("Külső Partner", fmt.Sprintf("partner%d@fabrikam.example", r.IntN(50))))
	}
	subject := fmt.Sprintf(pick(r, subjectStems), pick(r, words), pick(r, words))
	text := bodyText(r, bodySize(r))
	if r.IntN(40) == 0 {
		text = text[:len(text)/2] + "\x00" + text[len(text)/2:]
	}
	body := map[string]string{"contentType": "text", "content": text}
	if r.IntN(2) == 0 {
		img := ""
		if cid, ok := inlineImageCID(h); ok {
			// An inline image, served as an inline attachment (attachments.go).
			img = `<p><img src="cid:` + cid + `" alt="image"></p>`
		}
		body = map[string]string{"contentType": "html", "content": "<html><head>\r\n<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\"></head><body><div><p>" +
			strings.ReplaceAll(text, "\r\n\r\n", "</p><p>") + "</p>" + img + "</div></body></html>"}
	}
	// The preview needs 255 runes, and 1,100 bytes give the same first 255
	// as the whole text (4 bytes a rune at most, one NUL; a rune or CRLF cut
	// at the end only spoils the end). Converting whole bodies to runes
	// dominated generating large tenants, and 4 KB still slowed lazy pages.
	head := text[:min(len(text), 1100)]
	preview := []rune(strings.ReplaceAll(strings.ReplaceAll(head, "\x00", ""), "\r\n", " "))
	if len(preview) > 255 {
		preview = preview[:255]
	}
	created := received.Add(-time.Duration(r.IntN(120)) * time.Second)
	ck := changeKey(h, 0)
	o := object{}
	o.set("@odata.type", "#microsoft.graph.message")
	o.set("@odata.etag", `W/"`+ck+`"`)
	o.set("id", "")
	o.set("createdDateTime", created.UTC().Format(graphTime))
	o.set("lastModifiedDateTime", received.UTC().Format(graphTime))
	o.set("changeKey", ck)
	cats := []string{}
	if r.IntN(6) == 0 {
		cats = append(cats, pick(r, []string{"Blue category", "Red category", "Projekt ✨", "Follow up"}))
	}
	o.set("categories", cats)
	o.set("receivedDateTime", received.UTC().Format(graphTime))
	o.set("sentDateTime", created.UTC().Format(graphTime))
	o.set("hasAttachments", r.IntN(5) == 0)
	o.set("internetMessageId", fmt.Sprintf("<%x@%s>", h, u.domain()))
	o.set("subject", subject)
	o.set("bodyPreview", string(preview))
	o.set("importance", pick(r, []string{"normal", "normal", "normal", "high", "low"}))
	o.set("parentFolderId", f.id)
	o.set("conversationId", outlookID("AAQkAG", h>>8, 7))
	o.set("conversationIndex", base64.StdEncoding.EncodeToString(binary.LittleEndian.AppendUint64(nil, h)))
	o.set("isDeliveryReceiptRequested", false)
	o.set("isReadReceiptRequested", false)
	o.set("isRead", read)
	o.set("isDraft", f.wellKnown == "drafts")
	o.set("webLink", "https://outlook.office365.com/owa/?ItemID="+url.QueryEscape(imm)+"&exvsurl=1&viewmodel=ReadMessageItem")
	o.set("inferenceClassification", pick(r, []string{"focused", "focused", "other"}))
	o.set("body", body)
	o.set("sender", from)
	o.set("from", from)
	o.set("toRecipients", to)
	o.set("ccRecipients", cc)
	o.set("bccRecipients", []any{})
	o.set("replyTo", []any{})
	o.set("flag", map[string]string{"flagStatus": pick(r, []string{"notFlagged", "notFlagged", "notFlagged", "flagged", "complete"})})
	return o, read
}

// placeMessage puts m into folder f as a new visit. Each visit of a message
// to a folder is its own entry, so a folder's delta reports the message's
// departure and return separately.
func (em *Emulator) placeMessage(u *userRec, ver uint64, m *message, f *folder, o object) {
	m.f = f
	id := outlookID("AAMkAG", m.hash, uint64(m.gen)+1)
	o.set("id", id)
	o.set("parentFolderId", f.id)
	m.e = f.msgs.add(ver, &entry{key: m.imm + "#" + strconv.Itoa(m.gen), id: id, immID: m.imm, obj: o, aux: m})
	u.mail.byMsgID[id] = m
}

func (em *Emulator) touchMessage(m *message) {
	m.change++
	ck := changeKey(m.hash, m.change)
	o := m.e.obj
	o.set("@odata.etag", `W/"`+ck+`"`)
	o.set("changeKey", ck)
	o.set("lastModifiedDateTime", em.now().UTC().Format(graphTime))
	m.e.obj = o
}

// Mail mutations; called with em.mu held.

func (em *Emulator) mutateMail(u *userRec, r *rand.Rand, ver uint64) string {
	mb := u.mail
	var live []*message
	for _, k := range sortedKeys(mb.msgs) {
		live = append(live, mb.msgs[k])
	}
	folders := mb.folderList()
	if mb.lazy != nil { // the lazy archive never changes
		folders = slices.DeleteFunc(folders, func(f *folder) bool { return f == mb.lazy.f })
	}
	op := r.IntN(100)
	switch {
	case op < 25 || len(live) == 0:
		f := mb.folder("inbox")
		if r.IntN(4) == 0 {
			f = pick(r, folders)
		}
		m := em.addMessage(u, ver, f, em.now())
		em.refreshFolder(u, f, ver)
		return "message created " + m.imm
	case op < 55:
		m := pick(r, live)
		m.read = !m.read
		m.e.obj.set("isRead", m.read)
		props := []string{"isRead"}
		if r.IntN(3) == 0 {
			m.e.obj.set("flag", map[string]string{"flagStatus": "flagged"})
			props = append(props, "flag")
		}
		em.touchMessage(m)
		m.f.msgs.update(ver, m.e, append(props, "lastModifiedDateTime", "changeKey")...)
		em.refreshFolder(u, m.f, ver)
		return "message updated " + m.imm
	case op < 75:
		m := pick(r, live)
		dst := pick(r, folders)
		if dst == m.f {
			dst = mb.folder("archive")
		}
		if dst == m.f {
			dst = mb.folder("inbox")
		}
		em.moveMessage(u, ver, m, dst)
		return "message moved " + m.imm
	case op < 85:
		m := pick(r, live)
		if m.f.wellKnown != "deleteditems" {
			em.moveMessage(u, ver, m, mb.folder("deleteditems"))
			return "message deleted to Deleted Items " + m.imm
		}
		em.deleteMessage(u, ver, m)
		return "message permanently deleted " + m.imm
	case op < 90:
		parent := pick(r, folders)
		f := em.addFolder(u, ver, fmt.Sprintf("%s %d", pick(r, []string{"Clients", "Team", "Notes", "Événements", "暂存"}), r.IntN(1000)), parent.id, "")
		return "folder created " + f.id
	case op < 95:
		var custom []*folder
		for _, f := range folders {
			if f.wellKnown == "" {
				custom = append(custom, f)
			}
		}
		if len(custom) == 0 {
			return "no-op"
		}
		f := pick(r, custom)
		f.name = f.name + " (renamed)"
		f.e.obj.set("displayName", f.name)
		mb.folders.update(ver, f.e, "displayName")
		return "folder renamed " + f.id
	default:
		var custom []*folder
		for _, f := range folders {
			if f.wellKnown == "" && f.parent != mb.folder("inbox").id {
				custom = append(custom, f)
			}
		}
		if len(custom) == 0 {
			return "no-op"
		}
		f := pick(r, custom)
		em.deleteFolder(u, ver, f)
		return "folder deleted " + f.id
	}
}

func (em *Emulator) moveMessage(u *userRec, ver uint64, m *message, dst *folder) {
	src := m.f
	o := m.e.obj.clone() // the tombstone keeps the old object
	src.msgs.remove(ver, m.e)
	delete(u.mail.byMsgID, m.e.id)
	m.gen++
	m.change++
	ck := changeKey(m.hash, m.change)
	o.set("@odata.etag", `W/"`+ck+`"`)
	o.set("changeKey", ck)
	o.set("lastModifiedDateTime", em.now().UTC().Format(graphTime))
	em.placeMessage(u, ver, m, dst, o)
	em.refreshFolder(u, src, ver)
	em.refreshFolder(u, dst, ver)
}

func (em *Emulator) deleteMessage(u *userRec, ver uint64, m *message) {
	m.f.msgs.remove(ver, m.e)
	delete(u.mail.msgs, m.imm)
	delete(u.mail.byMsgID, m.e.id)
	em.refreshFolder(u, m.f, ver)
}

// DeleteMailFolder deletes a user's mail folder with its subfolders and
// their messages, as the user deleting it in Outlook does: the folders
// delta reports it removed, and its messages delta answers 404. A
// well-known folder cannot be deleted (Outlook refuses,
// ErrorDeleteDistinguishedFolder).
func (em *Emulator) DeleteMailFolder(userID, folderID string) error {
	em.mu.Lock()
	defer em.mu.Unlock()
	u := em.lookupUser(userID)
	if u == nil {
		return fmt.Errorf("delete mail folder: user %q not found", userID)
	}
	f := u.mail.byID[folderID]
	switch {
	case f == nil || f.gone:
		return fmt.Errorf("delete mail folder: user %q has no folder %q", userID, folderID)
	case f.wellKnown != "" || f.id == u.mail.rootID:
		return fmt.Errorf("delete mail folder: %q is a well-known folder", folderID)
	}
	em.deleteFolder(u, em.nextVersion(), f)
	return nil
}

// deleteFolder removes a folder, its subfolders and their messages.
func (em *Emulator) deleteFolder(u *userRec, ver uint64, f *folder) {
	mb := u.mail
	for _, g := range mb.order {
		if g.parent == f.id && !g.gone {
			em.deleteFolder(u, ver, g)
		}
	}
	for _, e := range f.msgs.entries {
		if !e.deleted {
			f.msgs.remove(ver, e)
			if m, ok := e.aux.(*message); ok {
				delete(mb.msgs, m.imm)
				delete(mb.byMsgID, m.e.id)
			}
		}
	}
	f.gone = true
	mb.folders.remove(ver, f.e)
	if p := mb.byID[f.parent]; p != nil {
		em.refreshFolder(u, p, ver)
	}
}

// Handlers.

const (
	outlookDefaultPage = 10
	outlookMaxPage     = 1000
)

func (c *call) mailFoldersDelta() {
	u := c.user
	c.serveDelta(deltaSpec{
		key: "mf/" + u.id, col: func() *collection { return u.mail.folders },
		path: "/users/" + u.id + "/mailFolders/delta", context: c.context("Collection(mailFolder)"),
		defSize: outlookDefaultPage, maxSize: outlookMaxPage, partial: true, selectable: true,
		initial: func(c *call, q url.Values) (map[string]string, bool) {
			opts := map[string]string{}
			for k := range q {
				switch strings.ToLower(strings.TrimPrefix(k, "$")) {
				case "select":
					opts["$select"], _ = query(q, "select")
				default:
					return refuse(c, "ErrorInvalidUrlQuery", fmt.Sprintf("The query parameter '%s' is not supported with change tracking over the 'MailFolder' resource.", k))
				}
			}
			return opts, true
		},
	})
}

func (c *call) messagesDelta() {
	u := c.user
	c.em.mu.RLock()
	f := u.mail.folder(c.args["f"])
	c.em.mu.RUnlock()
	if f == nil {
		c.fail(http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
		return
	}
	c.serveDelta(deltaSpec{
		key: "m/" + u.id + "/" + f.id, col: func() *collection { return f.msgs },
		path: "/users/" + u.id + "/mailFolders/" + f.id + "/messages/delta", context: c.context("Collection(message)"),
		defSize: outlookDefaultPage, maxSize: outlookMaxPage, partial: true, selectable: true,
		initial: messagesDeltaOptions,
		filter: func(opts map[string]string) func(*entry, uint64) bool {
			keep := messagesDeltaFilter(opts)
			if !c.em.cfg.MissedChanges || !c.imm {
				return keep
			}
			return func(e *entry, from uint64) bool {
				return !missedReturn(f, e, from) && (keep == nil || keep(e, from))
			}
		},
	})
}

// messagesDeltaOptions enforces message-delta's documented query support:
// $select, $top, $expand, $filter on receivedDateTime ge|gt, $orderby
// receivedDateTime desc, and changeType; nothing else.
func messagesDeltaOptions(c *call, q url.Values) (map[string]string, bool) {
	opts := map[string]string{}
	for k, vs := range q {
		v := vs[0]
		switch strings.ToLower(strings.TrimPrefix(k, "$")) {
		case "select":
			opts["$select"] = v
		case "top":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return refuse(c, "ErrorInvalidUrlQuery", "The value of the parameter 'Top' is invalid.")
			}
			opts["$top"] = v
		case "expand":
			opts["$expand"] = v
		case "filter":
			f := strings.Fields(v)
			if len(f) != 3 || !strings.EqualFold(f[0], "receivedDateTime") || (f[1] != "ge" && f[1] != "gt") {
				return refuse(c, "ErrorInvalidUrlQuery", "The filter expression for $filter does not match to a single extended property and a value restriction.")
			}
			if _, err := time.Parse(time.RFC3339, strings.Trim(f[2], "'")); err != nil {
				return refuse(c, "BadRequest", "Invalid filter clause")
			}
			opts["$filter"] = v
		case "orderby":
			if !strings.EqualFold(strings.Join(strings.Fields(v), " "), "receivedDateTime desc") {
				return refuse(c, "ErrorInvalidUrlQuery", "The query parameter 'OrderBy' is invalid.")
			}
			opts["$orderby"] = v
		case "changetype":
			switch v {
			case "created", "updated", "deleted":
				opts["changeType"] = v
			default:
				return refuse(c, "ErrorInvalidUrlQuery", fmt.Sprintf("The value '%s' of the parameter 'changeType' is invalid.", v))
			}
		case "search":
			return refuse(c, "ErrorInvalidUrlQuery", "The query parameter '$search' is not supported with change tracking over the 'Message' resource.")
		default:
			return refuse(c, "ErrorInvalidUrlQuery", fmt.Sprintf("The query parameter '%s' is not supported with change tracking over the 'Message' resource.", k))
		}
	}
	return opts, true
}

func messagesDeltaFilter(opts map[string]string) func(e *entry, from uint64) bool {
	var since time.Time
	strict := false
	if f := strings.Fields(opts["$filter"]); len(f) == 3 {
		since, _ = time.Parse(time.RFC3339, strings.Trim(f[2], "'"))
		strict = f[1] == "gt"
	}
	ct := opts["changeType"]
	if since.IsZero() && ct == "" {
		return nil
	}
	return func(e *entry, from uint64) bool {
		switch ct {
		case "deleted":
			if !e.deleted {
				return false
			}
		case "created":
			if e.deleted || (from > 0 && e.created <= from) {
				return false
			}
		case "updated":
			if e.deleted || e.created > from {
				return false
			}
		}
		if !since.IsZero() && !e.deleted {
			var rs string
			rs = e.obj.str("receivedDateTime")
			t, _ := time.Parse(graphTime, rs)
			if t.Before(since) || (strict && t.Equal(since)) {
				return false
			}
		}
		return true
	}
}

func (c *call) listMailFolders() { c.listFolders(c.user.mail.rootID) }

func (c *call) listChildFolders() {
	c.em.mu.RLock()
	f := c.user.mail.folder(c.args["f"])
	c.em.mu.RUnlock()
	if f == nil {
		c.fail(http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
		return
	}
	c.listFolders(f.id)
}

func (c *call) listFolders(parent string) {
	c.em.mu.RLock()
	var items [][]byte
	for _, f := range c.user.mail.folderList() {
		if f.parent == parent && !f.hidden {
			items = append(items, f.e.full)
		}
	}
	c.em.mu.RUnlock()
	c.servePaged(items, c.context("users('"+c.user.id+"')/mailFolders"), outlookDefaultPage, outlookMaxPage)
}

func (c *call) getMailFolder() {
	c.em.mu.RLock()
	f := c.user.mail.folder(c.args["f"])
	var b []byte
	if f != nil {
		b = f.e.full
	}
	c.em.mu.RUnlock()
	if f == nil {
		c.fail(http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
		return
	}
	c.writeJSON(withContext(b, c.context("users('"+c.user.id+"')/mailFolders/$entity")))
}

func (c *call) getMessage() {
	id := c.args["m"]
	mb := c.user.mail
	c.em.mu.RLock()
	var out []byte
	m := mb.msgs[id]
	if m == nil {
		m = mb.byMsgID[id]
	}
	if m != nil {
		b, off, end := m.e.obj.encode(nil, selectKeep(c.r.URL.Query()))
		out = appendWithID(nil, b, off, end, m.e.servedID(c.imm), m.e.id)
	}
	if a := mb.lazy; out == nil && a != nil {
		if i, ok := a.find(id); ok {
			out = a.append(nil, i, selectKeep(c.r.URL.Query()), c.imm)
		}
	}
	c.em.mu.RUnlock()
	if out == nil {
		c.fail(http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
		return
	}
	c.writeJSON(withContext(out, c.context("users('"+c.user.id+"')/messages/$entity")))
}

// withContext prepends @odata.context to an encoded object.
func withContext(obj []byte, ctx string) []byte {
	out := append([]byte(`{"@odata.context":`), raw(ctx)...)
	if len(obj) > 2 {
		out = append(out, ',')
	}
	return append(out, obj[1:]...)
}

// servePaged pages a fixed list with $top and $skiptoken (an offset).
func (c *call) servePaged(items [][]byte, ctx string, def, maxN int) {
	q := c.r.URL.Query()
	size := def
	if v, ok := query(q, "top"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			c.fail(http.StatusBadRequest, "BadRequest", "Invalid value for $top.")
			return
		}
		size = n
	}
	if n := maxPageSize(c.r); n > 0 {
		size = n
	}
	size = min(size, maxN)
	off := 0
	if v, ok := query(q, "skiptoken"); ok {
		t, err := c.em.openToken(v, "list"+c.route)
		if err != nil {
			c.fail(http.StatusBadRequest, "BadRequest", "Badly formed token.")
			return
		}
		off = int(t.Cursor)
	}
	if v, ok := query(q, "skip"); ok {
		n, _ := strconv.Atoi(v)
		off += n
	}
	out := append([]byte(`{"@odata.context":`), raw(ctx)...)
	end := min(off+size, len(items))
	if end < len(items) {
		qq := url.Values{}
		for k, v := range q {
			if !strings.EqualFold(strings.TrimPrefix(k, "$"), "skiptoken") && !strings.EqualFold(strings.TrimPrefix(k, "$"), "skip") {
				qq[k] = v
			}
		}
		qq.Set("$skiptoken", c.em.sealToken(cursorToken{Key: "list" + c.route, Cursor: uint64(end), Gen: c.em.currentGen(), Issued: c.em.now().Unix()}))
		out = append(out, `,"@odata.nextLink":`...)
		out = append(out, raw(c.base()+strings.TrimPrefix(c.r.URL.Path, "/v1.0")+"?"+qq.Encode())...)
	}
	out = append(out, `,"value":[`...)
	for i := off; i < end; i++ {
		if i > off {
			out = append(out, ',')
		}
		out = append(out, items[i]...)
	}
	c.writeJSON(append(out, "]}"...))
}

// sortEntries orders entries by a key for listings.
func sortEntries(es []*entry, less func(a, b *entry) bool) {
	sort.SliceStable(es, func(i, j int) bool { return less(es[i], es[j]) })
}
