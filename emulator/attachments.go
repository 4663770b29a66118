package emulator

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Mail attachments, as learn.microsoft.com/graph/api/attachment-get,
// api/message-list-attachments and the fileAttachment, itemAttachment and
// referenceAttachment resources document them. Their content is never
// stored: it is generated from a seed each time $value (or contentBytes)
// serves it, so an attachment of 150 MB costs a few words.

// attachmentRoutes: reading attachments needs Mail.Read; Mail.ReadBasic
// leaves them out (attachment-get, message-list-attachments).
func attachmentRoutes() []route {
	perm := []string{"Mail.Read", "Mail.ReadWrite", "Mail.Read.Shared", "Mail.ReadWrite.Shared"}
	roles := []string{"Mail.Read", "Mail.ReadWrite"}
	var out []route
	for _, base := range []string{"users/{u}/messages/{m}/attachments", "users/{u}/mailFolders/{f}/messages/{m}/attachments"} {
		out = append(out, route{base, svcOutlook, perm, roles, (*call).listAttachments},
			route{base + "/{a}", svcOutlook, perm, roles, (*call).getAttachment},
			route{base + "/{a}/$value", svcOutlook, perm, roles, (*call).attachmentValue})
	}
	return out
}

// attachment is one attachment of a message.
type attachment struct {
	key      string // the id's suffix, unique within the message
	kind     string // attFile, attItem or attReference
	name     string
	ctype    string // contentType; "" is served as null
	length   int64  // bytes $value serves (file content, an item's MIME)
	inline   bool
	cid      string // contentId of a file attachment; "" is null
	modified time.Time
	seed     uint64 // content generator
	item     string // "message" or "event" for item attachments
	refSize  int64  // a reference attachment's metadata size
}

const (
	attFile      = "file"
	attItem      = "item"
	attReference = "reference"
	// maxAttachment is Outlook's limit for a file attachment (through an
	// upload session): 150 MB (outlook-large-attachments).
	maxAttachment = 150 << 20
	// listContentLimit: lists leave contentBytes out of file attachments
	// over 4 MB, as real responses do (see docs/emulator.md).
	listContentLimit = 4 << 20
	attIDMark        = "BEgAQ"
)

var attTypes = map[string]string{attFile: "#microsoft.graph.fileAttachment", attItem: "#microsoft.graph.itemAttachment",
	attReference: "#microsoft.graph.referenceAttachment"}

// attachmentFiles are the generated file attachments' names and types.
var attachmentFiles = []struct{ name, ctype string }{
	{"Q3 report.pdf", "application/pdf"}, {"budget 2026.xlsx", mimeTypes[".xlsx"]},
	{"contract draft.docx", mimeTypes[".docx"]}, {"résumé – Zoë.pdf", "application/pdf"},
	{"会议记录.docx", mimeTypes[".docx"]}, {"launch slides.pptx", mimeTypes[".pptx"]},
	{"photo.jpg", "image/jpeg"}, {"notes.txt", "text/plain"}, {"logs.zip", "application/zip"},
	{"invoice-4711.pdf", "application/pdf"}, {"diagram.png", "image/png"}, {"data.csv", "text/csv"},
}

// inlineImageCID decides, from a message's hash alone, whether an HTML
// message carries an inline image, and its contentId; the body refers to
// it as cid:... .
func inlineImageCID(h uint64) (string, bool) {
	x := mix64(h ^ 0x1e11e)
	if x%6 != 0 {
		return "", false
	}
	return fmt.Sprintf("image%03d.png@01D%X.%X", 1+x%3, x>>40&0xfffff, x>>8&0xffffffff), true
}

// generatedAttachments are a generated message's attachments, drawn from
// its hash h (never from the generator that drew the message, so that the
// rest of the tenant stays as it was): one to three when it has
// hasAttachments, and an inline image when its HTML body shows one.
// Microsoft documents that hasAttachments leaves inline attachments out
// (resources/message), so a message with only an inline image has
// hasAttachments false.
func (em *Emulator) generatedAttachments(h uint64, o object, received time.Time) []*attachment {
	var out []*attachment
	r := rand.New(rand.NewPCG(h, 0xa77ac4))
	if string(o.get("hasAttachments")) == "true" {
		for i := 1 + r.IntN(3); i > 0; i-- {
			switch k := r.IntN(100); {
			case k < 80:
				f := pick(r, attachmentFiles)
				out = append(out, &attachment{kind: attFile, name: f.name, ctype: f.ctype, length: attachmentSize(r)})
			case k < 92:
				out = append(out, &attachment{kind: attItem, item: pick(r, []string{"message", "message", "event"})})
			default:
				f := pick(r, attachmentFiles)
				out = append(out, &attachment{kind: attReference, name: f.name, ctype: f.ctype, refSize: int64(400 + r.IntN(1200))})
			}
		}
	}
	// The body encodes its keys sorted, contentType last: reading the
	// suffix spares decoding up to 600 KB of text.
	html := bytes.HasSuffix(o.get("body"), []byte(`"contentType":"html"}`))
	if cid, ok := inlineImageCID(h); ok && html {
		out = append(out, &attachment{kind: attFile, name: "image" + cid[5:8] + ".png", ctype: "image/png",
			length: int64(2000 + r.IntN(60000)), inline: true, cid: cid})
	}
	for i, a := range out {
		em.finishAttachment(a, h, uint64(i), received)
	}
	return out
}

// finishAttachment gives a its key, seed, time and, for an item attachment,
// its name and MIME length.
func (em *Emulator) finishAttachment(a *attachment, h, n uint64, at time.Time) {
	a.seed = mix64(h ^ mix64(n+0xa7))
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:], a.seed)
	binary.LittleEndian.PutUint64(b[8:], h)
	a.key = attIDMark + base64.URLEncoding.EncodeToString(b[:])
	a.modified = at.UTC().Truncate(time.Second)
	if a.kind == attItem {
		if a.name == "" {
			a.name = em.itemObject(a).str("subject")
		}
		a.length = int64(len(em.itemMIME(a)))
	}
}

// attachmentSize draws a file's length: log-uniform between 8 bytes and
// 3 MB (Outlook's limit for a plain POST), one in a hundred between 3 and
// 35 MB (attached through an upload session).
func attachmentSize(r *rand.Rand) int64 {
	if r.IntN(100) == 0 {
		return int64(3<<20 + r.IntN(32<<20))
	}
	return int64(8 * math.Pow(3e6/8, r.Float64()))
}

// storedSize is the size property: Outlook reports the size it stores an
// attachment with, a few percent over the raw content (outlook-large-
// attachments: size 3,640,066 for a file of 3,483,322 bytes).
func (a *attachment) storedSize() int64 {
	if a.kind == attReference {
		return a.refSize
	}
	return a.length + a.length/22 + 180
}

// writeContent writes the bytes $value serves: for a file, a header of its
// format then deterministic bytes (prose for text) up to its length; for
// an item, its MIME.
func (a *attachment) writeContent(em *Emulator, w io.Writer) error {
	if a.kind == attItem {
		_, err := w.Write(em.itemMIME(a))
		return err
	}
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], a.seed)
	binary.LittleEndian.PutUint64(seed[8:], uint64(em.cfg.Seed))
	src := rand.NewChaCha8(seed)
	buf := make([]byte, min(a.length, 64<<10))
	head := fileHeader(a.ctype)
	text := strings.HasPrefix(a.ctype, "text/")
	if text {
		head = []byte(bodyText(rand.New(src), min(len(buf), 8<<10)))
	}
	for left := a.length; left > 0; {
		n := min(int64(len(buf)), left)
		p := buf[:n]
		done := a.length - left
		switch {
		case text: // text repeats its paragraph
			for i := 0; i < len(p); {
				i += copy(p[i:], head[(done+int64(i))%int64(len(head)):])
			}
		default: // a format's header, then random binary
			_, _ = src.Read(p)
			if done < int64(len(head)) {
				copy(p, head[done:])
			}
		}
		if _, err := w.Write(p); err != nil {
			return err
		}
		left -= n
	}
	return nil
}

func fileHeader(ctype string) []byte {
	switch {
	case ctype == "application/pdf":
		return []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	case ctype == "image/png":
		return []byte("\x89PNG\r\n\x1a\n")
	case ctype == "image/jpeg":
		return []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00")
	case strings.Contains(ctype, "openxmlformats") || ctype == "application/zip":
		return []byte("PK\x03\x04\x14\x00\x06\x00")
	}
	return nil
}

// contentSHA256 hashes what $value serves, streaming.
func (a *attachment) contentSHA256(em *Emulator) string {
	h := sha256.New()
	_ = a.writeContent(em, h)
	return hex.EncodeToString(h.Sum(nil))
}

// itemObject is the Outlook item an item attachment holds, as
// $expand=microsoft.graph.itemattachment/item serves it: an attached
// message or event, whose id is empty (attachment-get, example 3).
func (em *Emulator) itemObject(a *attachment) object {
	r := rand.New(rand.NewPCG(a.seed, 0x17e))
	from, to := em.users[r.IntN(len(em.users))], em.users[r.IntN(len(em.users))]
	at := a.modified.Add(-time.Duration(1+r.IntN(72*3600)) * time.Second).UTC().Format(graphTime)
	text := sentence(r, 8+r.IntN(30))
	o := object{}
	if a.item == "event" {
		start := a.modified.Truncate(time.Hour).Add(time.Duration(24+r.IntN(24*30)) * time.Hour)
		o.set("@odata.type", "#microsoft.graph.event")
		o.set("id", "")
		o.set("createdDateTime", at)
		o.set("lastModifiedDateTime", at)
		o.set("subject", "Invitation: "+pick(r, words)+" "+pick(r, words))
		o.set("body", map[string]string{"contentType": "text", "content": text})
		o.set("start", eventDateTime(start, nil))
		o.set("end", eventDateTime(start.Add(time.Duration(1+r.IntN(4))*30*time.Minute), nil))
		o.set("location", map[string]any{"displayName": pick(r, []string{"Conference Room Adams", "Salle Étoile", "Microsoft Teams Meeting"})})
		o.set("organizer", recipient(from.name, from.upn))
		return o
	}
	o.set("@odata.type", "#microsoft.graph.message")
	o.set("id", "")
	o.set("createdDateTime", at)
	o.set("lastModifiedDateTime", at)
	o.set("receivedDateTime", at)
	o.set("sentDateTime", at)
	o.set("hasAttachments", false)
	o.set("internetMessageId", fmt.Sprintf("<%x.att@%s>", a.seed, from.domain()))
	o.set("subject", fmt.Sprintf(pick(r, subjectStems), pick(r, words), pick(r, words)))
	o.set("importance", "normal")
	o.set("isRead", true)
	o.set("isDraft", false)
	o.set("body", map[string]string{"contentType": "text", "content": text})
	o.set("sender", recipient(from.name, from.upn))
	o.set("from", recipient(from.name, from.upn))
	o.set("toRecipients", []any{recipient(to.name, to.upn)})
	o.set("ccRecipients", []any{})
	return o
}

// itemMIME is an item attachment's $value: MIME for a message, iCalendar
// for an event (attachment-get: "the raw contents returned is in MIME
// format").
func (em *Emulator) itemMIME(a *attachment) []byte {
	o := em.itemObject(a)
	var body struct{ Content string }
	_ = json.Unmarshal(o.get("body"), &body)
	var b bytes.Buffer
	if a.item == "event" {
		var org struct {
			EmailAddress struct{ Name, Address string }
		}
		_ = json.Unmarshal(o.get("organizer"), &org)
		var start, end struct{ DateTime string }
		_ = json.Unmarshal(o.get("start"), &start)
		_ = json.Unmarshal(o.get("end"), &end)
		ical := func(s string) string {
			t, _ := time.Parse(eventTime, s)
			return t.Format("20060102T150405Z")
		}
		fmt.Fprintf(&b, "BEGIN:VCALENDAR\r\nMETHOD:PUBLISH\r\nPRODID:Microsoft Exchange Server 2010\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\n"+
			"ORGANIZER;CN=%s:MAILTO:%s\r\nDESCRIPTION;LANGUAGE=en-US:%s\r\nUID:040000008200E00074C5B7101A82E008%016X\r\n"+
			"SUMMARY;LANGUAGE=en-US:%s\r\nDTSTART:%s\r\nDTEND:%s\r\nCLASS:PUBLIC\r\nPRIORITY:5\r\nSTATUS:CONFIRMED\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
			org.EmailAddress.Name, org.EmailAddress.Address, body.Content, a.seed, o.str("subject"), ical(start.DateTime), ical(end.DateTime))
		return b.Bytes()
	}
	var from, to struct {
		EmailAddress struct{ Name, Address string }
	}
	_ = json.Unmarshal(o.get("from"), &from)
	var tos []struct {
		EmailAddress struct{ Name, Address string }
	}
	_ = json.Unmarshal(o.get("toRecipients"), &tos)
	if len(tos) > 0 {
		to = tos[0]
	}
	sent, _ := time.Parse(graphTime, o.str("sentDateTime"))
	fmt.Fprintf(&b, "From: %s <%s>\r\nTo: %s <%s>\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: %s\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: text/plain; charset=\"utf-8\"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s\r\n",
		from.EmailAddress.Name, from.EmailAddress.Address, to.EmailAddress.Name, to.EmailAddress.Address,
		o.str("subject"), sent.Format(time.RFC1123Z), o.str("internetMessageId"), body.Content)
	return b.Bytes()
}

// msgRef is a message found by id: stored (m set) or lazy.
type msgRef struct {
	m       *message
	id, imm string // default and immutable ids
	f       *folder
	atts    []*attachment
}

func (r msgRef) servedID(imm bool) string {
	if imm {
		return r.imm
	}
	return r.id
}

// findMessage resolves a default or immutable message id of u; em.mu held.
func (em *Emulator) findMessage(u *userRec, id string) (msgRef, bool) {
	mb := u.mail
	m := mb.msgs[id]
	if m == nil {
		m = mb.byMsgID[id]
	}
	if m != nil {
		return msgRef{m: m, id: m.e.id, imm: m.imm, f: m.f, atts: m.atts}, true
	}
	if a := mb.lazy; a != nil {
		if i, ok := a.find(id); ok {
			var pcg rand.PCG
			return em.lazyRef(a, i, &pcg), true
		}
	}
	return msgRef{}, false
}

// lazyRef is message i of the lazy archive with its attachments.
func (em *Emulator) lazyRef(a *lazyArchive, i int, pcg *rand.PCG) msgRef {
	e := a.entry(i, pcg)
	received, _ := time.Parse(graphTime, e.obj.str("receivedDateTime"))
	return msgRef{id: e.id, imm: e.immID, f: a.f, atts: em.generatedAttachments(mix64(a.salt+uint64(i)), e.obj, received)}
}

func (r msgRef) attachment(id string) *attachment {
	for _, a := range r.atts {
		if id == r.id+a.key || id == r.imm+a.key {
			return a
		}
	}
	return nil
}

// attachmentObject encodes a's properties (contentBytes apart): the
// attachment resource and its derived type's, as attachment-get's examples
// order them.
func (em *Emulator) attachmentObject(a *attachment, msgID string) object {
	o := object{}
	o.set("@odata.type", attTypes[a.kind])
	o.set("id", msgID+a.key)
	o.set("lastModifiedDateTime", a.modified.Format(graphTime))
	o.set("name", a.name)
	o.set("contentType", nilIfEmpty(a.ctype))
	if a.kind == attItem {
		o.set("contentType", nil)
	}
	o.set("size", a.storedSize())
	o.set("isInline", a.inline)
	if a.kind == attFile {
		o.set("contentId", nilIfEmpty(a.cid))
		o.set("contentLocation", nil) // "not supported" (resources/fileattachment)
	}
	return o
}

// attachmentQuery is a parsed $select and $expand.
type attachmentQuery struct {
	sel    map[string]bool // nil: every property
	expand bool            // microsoft.graph.itemattachment/item
}

var attachmentBase = []string{"id", "lastmodifieddatetime", "name", "contenttype", "size", "isinline"}

// parseAttachmentQuery reads $select and $expand as OData does for the
// attachment type: base properties by name, a derived type's by qualified
// name (microsoft.graph.fileAttachment/contentBytes); a derived property
// named unqualified is an error, as real responses show
// (microsoft-graph-explorer-v4#3916).
func (c *call) parseAttachmentQuery() (attachmentQuery, bool) {
	var aq attachmentQuery
	bad := func(p string) (attachmentQuery, bool) {
		c.fail(http.StatusBadRequest, "RequestBroker--ParseUri", fmt.Sprintf("Could not find a property named '%s' on type 'microsoft.graph.attachment'.", p))
		return aq, false
	}
	q := c.r.URL.Query()
	if v, ok := query(q, "select"); ok && strings.TrimSpace(v) != "" {
		aq.sel = map[string]bool{}
		for _, p := range strings.Split(v, ",") {
			p = strings.TrimSpace(p)
			lp := strings.ToLower(p)
			switch {
			case slices.Contains(attachmentBase, lp):
				aq.sel[lp] = true
			case lp == "microsoft.graph.fileattachment/contentbytes", lp == "microsoft.graph.fileattachment/contentid",
				lp == "microsoft.graph.fileattachment/contentlocation":
				aq.sel[strings.TrimPrefix(lp, "microsoft.graph.fileattachment/")] = true
			default:
				return bad(p)
			}
		}
	}
	if v, ok := query(q, "expand"); ok && strings.TrimSpace(v) != "" {
		for _, p := range strings.Split(v, ",") {
			if !strings.EqualFold(strings.TrimSpace(p), "microsoft.graph.itemattachment/item") {
				return bad(strings.TrimSpace(p))
			}
			aq.expand = true
		}
	}
	return aq, true
}

func (aq attachmentQuery) wants(k string) bool { return aq.sel == nil || aq.sel[strings.ToLower(k)] }

// render encodes a with the query's properties, without contentBytes.
func (c *call) renderAttachment(a *attachment, ref msgRef, aq attachmentQuery) []byte {
	msgID := ref.servedID(c.imm)
	o := c.em.attachmentObject(a, msgID)
	if aq.expand && a.kind == attItem {
		o = append(o, field{"item@odata.context", raw(c.context("users('" + c.user.id + "')/messages('" + url.QueryEscape(msgID) +
			"')/attachments('" + url.QueryEscape(msgID+a.key) + "')/microsoft.graph.itemAttachment/item/$entity"))})
		b, _, _ := c.em.itemObject(a).encode(nil, nil)
		o = append(o, field{"item", b})
	}
	keep := func(k string) bool { return k == "item" || k == "item@odata.context" || aq.wants(k) }
	b, _, _ := o.encode(nil, keep)
	return b
}

// withContentBytes appends contentBytes (base64 of $value) to an encoded
// object.
func (c *call) withContentBytes(obj []byte, a *attachment) []byte {
	var buf bytes.Buffer
	buf.Write(obj[:len(obj)-1])
	buf.WriteString(`,"contentBytes":"`)
	enc := base64.NewEncoder(base64.StdEncoding, &buf)
	_ = a.writeContent(c.em, enc)
	_ = enc.Close()
	buf.WriteString(`"}`)
	return buf.Bytes()
}

// messageForAttachments resolves the message of an attachments route: any
// message of the mailbox, or under mailFolders/{f} one in that folder.
func (c *call) messageForAttachments() (msgRef, bool) {
	em := c.em
	em.mu.RLock()
	ref, ok := em.findMessage(c.user, c.args["m"])
	if ok && c.args["f"] != "" {
		f := c.user.mail.folder(c.args["f"])
		ok = f != nil && f == ref.f
	}
	em.mu.RUnlock()
	if !ok {
		c.fail(http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
	}
	return ref, ok
}

// attachmentFor resolves {m} and {a}; on failure it has answered 404.
func (c *call) attachmentFor() (msgRef, *attachment) {
	ref, ok := c.messageForAttachments()
	if !ok {
		return ref, nil
	}
	a := ref.attachment(c.args["a"])
	if a == nil {
		c.fail(http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
	}
	return ref, a
}

// listAttachments serves .../messages/{id}/attachments. File attachments
// carry contentBytes (message-list-attachments' example), except those over
// 4 MB; the list is not paged.
func (c *call) listAttachments() {
	aq, ok := c.parseAttachmentQuery()
	if !ok {
		return
	}
	ref, ok := c.messageForAttachments()
	if !ok {
		return
	}
	msgID := ref.servedID(c.imm)
	out := pagePrefix(nil, c.context("users('"+c.user.id+"')/messages('"+url.QueryEscape(msgID)+"')/attachments"))
	for i, a := range ref.atts {
		if i > 0 {
			out = append(out, ',')
		}
		b := c.renderAttachment(a, ref, aq)
		if a.kind == attFile && aq.wants("contentBytes") && a.length <= listContentLimit {
			b = c.withContentBytes(b, a)
		}
		out = append(out, b...)
	}
	c.writeJSON(append(out, "]}"...))
}

// getAttachment serves .../attachments/{id}: contentBytes is included
// whatever the size ("not technically limited by attachment size",
// outlook-large-attachments), streamed as it is encoded.
func (c *call) getAttachment() {
	aq, ok := c.parseAttachmentQuery()
	if !ok {
		return
	}
	ref, a := c.attachmentFor()
	if a == nil {
		return
	}
	msgID := ref.servedID(c.imm)
	obj := withContext(c.renderAttachment(a, ref, aq), c.context("users('"+c.user.id+"')/messages('"+url.QueryEscape(msgID)+"')/attachments/$entity"))
	if a.kind != attFile || !aq.wants("contentBytes") {
		c.writeJSON(obj)
		return
	}
	// Stream the base64 of up to 150 MB: its length is known in advance.
	head := append(obj[:len(obj)-1:len(obj)-1], `,"contentBytes":"`...)
	h := c.w.Header()
	h.Set("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
	h.Set("Content-Length", strconv.FormatInt(int64(len(head))+int64(base64.StdEncoding.EncodedLen(int(a.length)))+2, 10))
	c.w.WriteHeader(http.StatusOK)
	_, _ = c.w.Write(head)
	enc := base64.NewEncoder(base64.StdEncoding, c.w)
	if a.writeContent(c.em, enc) == nil && enc.Close() == nil {
		_, _ = c.w.Write([]byte(`"}`))
	}
}

// attachmentValue serves .../attachments/{id}/$value: a file's bytes with
// its content type, an item's MIME, and 405 for a reference attachment
// (attachment-get). The bytes are generated as they are written.
func (c *call) attachmentValue() {
	_, a := c.attachmentFor()
	if a == nil {
		return
	}
	ctype := a.ctype
	switch a.kind {
	case attReference:
		c.fail(http.StatusMethodNotAllowed, "ErrorInvalidRequest", "The raw contents of a reference attachment cannot be retrieved.")
		return
	case attItem:
		ctype = "message/rfc822"
		if a.item == "event" {
			ctype = "text/calendar"
		}
	}
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	h := c.w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Length", strconv.FormatInt(a.length, 10))
	c.w.WriteHeader(http.StatusOK)
	_ = a.writeContent(c.em, c.w)
}

// attachmentsTruth lists every attachment of u's live messages as a GET
// without contentBytes serves it, with three emulator annotations: the
// message's id, the length of $value and its SHA-256 (none for reference
// attachments, which have no $value).
func (em *Emulator) attachmentsTruth(u *userRec, imm bool) []json.RawMessage {
	out := []json.RawMessage{}
	add := func(ref msgRef) {
		msgID := ref.servedID(imm)
		for _, a := range ref.atts {
			o := em.attachmentObject(a, msgID)
			o.set("@emulator.messageId", msgID)
			if a.kind != attReference {
				o.set("@emulator.contentLength", a.length)
				o.set("@emulator.contentSha256", a.contentSHA256(em))
			}
			b, _, _ := o.encode(nil, nil)
			out = append(out, b)
		}
	}
	for _, k := range sortedKeys(u.mail.msgs) {
		m := u.mail.msgs[k]
		add(msgRef{m: m, id: m.e.id, imm: m.imm, f: m.f, atts: m.atts})
	}
	if a := u.mail.lazy; a != nil {
		var pcg rand.PCG
		for i := 0; i < a.n; i++ {
			add(em.lazyRef(a, i, &pcg))
		}
	}
	return out
}

// AttachmentSpec describes an attachment AddAttachment adds.
type AttachmentSpec struct {
	// Kind is "file" (the default), "item" or "reference".
	Kind string
	// Name defaults to a generated one; ContentType to one that fits it.
	Name        string
	ContentType string
	// Size is a file attachment's length in bytes, from 1 to 150 MB
	// (Outlook's limit); its content is generated from the seed whenever
	// it is served.
	Size int64
	// Inline makes a file attachment inline, with a contentId.
	Inline bool
	// Item is "message" (the default) or "event" for an item attachment.
	Item string
}

// AddAttachment attaches a file, an Outlook item or a reference to a
// message of the user (default or immutable id), as POST .../attachments
// and upload sessions do: the message's hasAttachments (unless the
// attachment is inline), lastModifiedDateTime and changeKey change, and
// messages delta reports it updated. It returns the attachment's id (with
// the message's default id). Messages of the LazyMessages archive cannot
// change.
func (em *Emulator) AddAttachment(userID, messageID string, spec AttachmentSpec) (string, error) {
	a := &attachment{kind: spec.Kind, name: spec.Name, ctype: spec.ContentType, length: spec.Size, inline: spec.Inline, item: spec.Item}
	switch a.kind {
	case "":
		a.kind = attFile
		fallthrough
	case attFile:
		if a.length < 1 || a.length > maxAttachment {
			return "", fmt.Errorf("add attachment: size %d is not between 1 and %d bytes", a.length, maxAttachment)
		}
	case attItem:
		if a.item == "" {
			a.item = "message"
		}
		if a.item != "message" && a.item != "event" {
			return "", fmt.Errorf("add attachment: item %q is neither message nor event", a.item)
		}
	case attReference:
		a.refSize = 1024
	default:
		return "", fmt.Errorf("add attachment: kind %q is not file, item or reference", a.kind)
	}
	em.mu.Lock()
	defer em.mu.Unlock()
	u, m, err := em.mutableMessage(userID, messageID)
	if err != nil {
		return "", fmt.Errorf("add attachment: %w", err)
	}
	ver := em.nextVersion()
	em.attach(u, ver, m, a)
	return m.e.id + a.key, nil
}

// RemoveAttachment deletes an attachment of a message, as DELETE
// .../attachments/{id} does; the message is updated as for AddAttachment.
func (em *Emulator) RemoveAttachment(userID, messageID, attachmentID string) error {
	em.mu.Lock()
	defer em.mu.Unlock()
	u, m, err := em.mutableMessage(userID, messageID)
	if err != nil {
		return fmt.Errorf("remove attachment: %w", err)
	}
	ref := msgRef{id: m.e.id, imm: m.imm, atts: m.atts}
	a := ref.attachment(attachmentID)
	if a == nil {
		return fmt.Errorf("remove attachment: message %q has no attachment %q", messageID, attachmentID)
	}
	em.detach(u, em.nextVersion(), m, a)
	return nil
}

func (em *Emulator) mutableMessage(userID, messageID string) (*userRec, *message, error) {
	u := em.lookupUser(userID)
	if u == nil {
		return nil, nil, fmt.Errorf("user %q not found", userID)
	}
	ref, ok := em.findMessage(u, messageID)
	switch {
	case !ok:
		return nil, nil, fmt.Errorf("message %q of user %q not found", messageID, userID)
	case ref.m == nil:
		return nil, nil, errors.New("the messages of the LazyMessages archive never change")
	}
	return u, ref.m, nil
}

// attach adds a to m; em.mu held for writing.
func (em *Emulator) attach(u *userRec, ver uint64, m *message, a *attachment) {
	if a.kind == attFile {
		if a.name == "" || a.ctype == "" {
			f := attachmentFiles[ver%uint64(len(attachmentFiles))]
			a.name, a.ctype = orDefault(a.name, f.name), orDefault(a.ctype, f.ctype)
		}
		if a.inline && a.cid == "" {
			a.cid = fmt.Sprintf("image%03d.png@01D%X", len(m.atts)+1, ver)
		}
	}
	em.finishAttachment(a, m.hash, uint64(len(m.atts))+ver<<8, em.now())
	if a.kind == attReference && a.name == "" {
		a.name, a.ctype = "shared document.docx", mimeTypes[".docx"]
	}
	m.atts = append(slices.Clone(m.atts), a)
	em.attachmentsChanged(u, ver, m)
}

func (em *Emulator) detach(u *userRec, ver uint64, m *message, a *attachment) {
	m.atts = slices.DeleteFunc(slices.Clone(m.atts), func(x *attachment) bool { return x == a })
	em.attachmentsChanged(u, ver, m)
}

// attachmentsChanged updates the message: hasAttachments counts attachments
// that are not inline (resources/message).
func (em *Emulator) attachmentsChanged(u *userRec, ver uint64, m *message) {
	has := slices.ContainsFunc(m.atts, func(a *attachment) bool { return !a.inline })
	m.e.obj.set("hasAttachments", has)
	em.touchMessage(m)
	m.f.msgs.update(ver, m.e, "hasAttachments", "lastModifiedDateTime", "changeKey")
	em.refreshFolder(u, m.f, ver)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// mutateAttachments adds an attachment to a message (a file mostly, one in
// a hundred over 3 MB) or removes one; em.mu held.
func (em *Emulator) mutateAttachments(u *userRec, r *rand.Rand, ver uint64) string {
	keys := sortedKeys(u.mail.msgs)
	if len(keys) == 0 {
		return "no-op"
	}
	m := u.mail.msgs[pick(r, keys)]
	if len(m.atts) > 0 && r.IntN(5) < 2 {
		a := pick(r, m.atts)
		id := m.e.id + a.key
		em.detach(u, ver, m, a)
		return "attachment removed " + m.imm + "/" + id
	}
	a := &attachment{kind: attFile}
	switch k := r.IntN(100); {
	case k < 80:
		f := pick(r, attachmentFiles)
		a.name, a.ctype, a.length = f.name, f.ctype, attachmentSize(r)
	case k < 92:
		a.kind, a.item = attItem, pick(r, []string{"message", "event"})
	default:
		f := pick(r, attachmentFiles)
		a.kind, a.name, a.ctype, a.refSize = attReference, f.name, f.ctype, int64(400+r.IntN(1200))
	}
	em.attach(u, ver, m, a)
	return "attachment added " + m.imm + "/" + m.e.id + a.key
}
