package emulator

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"time"
)

// entry is one object in a change-logged collection. Its JSON is encoded
// once per change so that serving a page is copying bytes.
type entry struct {
	key     string // stable key within the collection
	id      string // id as served by default
	immID   string // id served with Prefer: IdType="ImmutableId" ("" = same)
	vers    []uint64
	created uint64 // version at which the entry (re)appeared
	deleted bool
	obj     object
	changes []change
	when    time.Time // receivedDateTime / start, for filters
	aux     any       // resource-specific state
	raw     []byte    // served verbatim, whatever it holds (see InjectRaw)
	// silent marks a deletion delta never reports (Config.MissedChanges):
	// the entry's records are skipped, no tombstone is logged.
	silent bool
	// refs maps other Outlook ids the object names (an occurrence's
	// seriesMasterId) to their immutable form, served with ImmutableId.
	refs map[string]string

	full         []byte // cached full encoding
	idOff, idEnd int
}

type change struct {
	ver   uint64
	props []string
}

func (e *entry) ver() uint64 { return e.vers[len(e.vers)-1] }

// collection is a change log: every create, update and delete appends a
// record with a new, globally increasing version; a delta round is the
// records between two versions. Deleted entries stay as tombstones.
type collection struct {
	odataType string
	entries   map[string]*entry
	logVer    []uint64
	logEnt    []*entry
	// tomb renders a deleted entry; nil renders the @removed form.
	tomb func(dst []byte, e *entry, id string) []byte
	// lazy, when set, holds generated records logged ahead of the stored
	// ones (Config.LazyMessages).
	lazy *lazyArchive
	// acks are the rounds clients completed (DeletedTruth).
	acks acks
}

func newCollection(odataType string) *collection {
	return &collection{odataType: odataType, entries: map[string]*entry{}}
}

// record logs a change of e at ver. Several changes of one entry within a
// version collapse into one record.
func (c *collection) record(ver uint64, e *entry) {
	if e.raw != nil {
		e.full, e.idOff, e.idEnd = e.raw, -1, -1
	} else {
		e.full, e.idOff, e.idEnd = e.obj.encodeShared()
	}
	if len(e.vers) > 0 && e.vers[len(e.vers)-1] == ver {
		return
	}
	e.vers = append(e.vers, ver)
	c.logVer = append(c.logVer, ver)
	c.logEnt = append(c.logEnt, e)
}

// add inserts a new entry, or revives a tombstone with the same key.
func (c *collection) add(ver uint64, e *entry) *entry {
	if old, ok := c.entries[e.key]; ok {
		old.deleted, old.silent = false, false
		old.obj, old.id, old.immID, old.when, old.aux, old.refs = e.obj, e.id, e.immID, e.when, e.aux, e.refs
		old.changes = nil
		old.created = ver
		c.record(ver, old)
		return old
	}
	e.created = ver
	c.entries[e.key] = e
	c.record(ver, e)
	return e
}

// update records a change the caller made to e.obj; props names the
// properties changed, for partial delta responses.
func (c *collection) update(ver uint64, e *entry, props ...string) {
	e.changes = append(e.changes, change{ver, props})
	c.record(ver, e)
}

func (c *collection) remove(ver uint64, e *entry) {
	e.deleted = true
	c.record(ver, e)
}

func (c *collection) live() []*entry {
	var out []*entry
	for i, e := range c.logEnt {
		if !e.deleted && e.ver() == c.logVer[i] {
			out = append(out, e)
		}
	}
	return out
}

// deltaQuery is one page request against a collection.
type deltaQuery struct {
	from, snap, cursor uint64
	size               int
	sel                map[string]bool
	imm                bool
	partial            bool
	keep               func(e *entry, from uint64) bool
	// removedIf reports live entries to serve as removed (calendar events
	// outside the window); the initial round skips them.
	removedIf func(*entry) bool
	// transform rewrites an object before encoding (time zones).
	transform func(object) object
	// expand adds to an entry's object what the request expands (a channel
	// message's replies).
	expand func(*entry, object) object
}

// superseded reports whether e has a later record within the snapshot, in
// which case the record at v is skipped and the later one serves e.
func superseded(e *entry, v, snap uint64) bool {
	for _, w := range e.vers {
		if w > v {
			return w <= snap
		}
	}
	return false
}

// page appends up to q.size items (comma separated) to dst. The cursor is
// a position in the log (records are never removed), so that paging works
// when many records share one version. It returns the cursor to continue
// from and whether the round is complete.
//
// A lazy collection's log starts with its lazy records: positions below
// lazy.n are theirs, and position lazy.n+i is the stored log's record i.
func (c *collection) page(dst []byte, q deltaQuery) (out []byte, n int, cursor uint64, done bool) {
	var keepSel func(string) bool
	if q.sel != nil {
		keepSel = func(k string) bool { return q.sel[k] }
	}
	base := 0
	if c.lazy != nil {
		base = c.lazy.n
		if q.cursor < uint64(base) {
			var pos int
			var full bool
			if dst, n, pos, full = c.lazy.page(dst, n, q, keepSel); full {
				return dst, n, uint64(pos), false
			}
		}
	}
	i := sort.Search(len(c.logVer), func(i int) bool { return c.logVer[i] > q.from })
	i = max(i, int(q.cursor)-base)
	for ; i < len(c.logVer); i++ {
		v := c.logVer[i]
		if v > q.snap {
			break
		}
		if n == q.size {
			return dst, n, uint64(base + i), false
		}
		e := c.logEnt[i]
		if superseded(e, v, q.snap) || (q.from == 0 && e.deleted) || e.silent {
			continue
		}
		if q.keep != nil && !q.keep(e, q.from) {
			continue
		}
		asRemoved := !e.deleted && q.removedIf != nil && q.removedIf(e)
		if asRemoved && q.from == 0 {
			continue
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		if asRemoved {
			dst = c.renderRemoved(dst, e, e.servedID(q.imm))
			continue
		}
		dst = c.render(dst, e, q, keepSel)
	}
	return dst, n, uint64(base + i), true
}

func (e *entry) servedID(imm bool) string {
	if imm && e.immID != "" {
		return e.immID
	}
	return e.id
}

func (c *collection) render(dst []byte, e *entry, q deltaQuery, keepSel func(string) bool) []byte {
	start := len(dst)
	dst = c.renderObject(dst, e, q, keepSel)
	if q.imm {
		dst = e.immutableRefs(dst, start)
	}
	return dst
}

// immutableRefs rewrites the ids e refers to in dst[from:] to their
// immutable form.
func (e *entry) immutableRefs(dst []byte, from int) []byte {
	for id, imm := range e.refs {
		seg := bytes.ReplaceAll(dst[from:], []byte(`"`+id+`"`), []byte(`"`+imm+`"`))
		dst = append(dst[:from], seg...)
	}
	return dst
}

func (c *collection) renderObject(dst []byte, e *entry, q deltaQuery, keepSel func(string) bool) []byte {
	id := e.servedID(q.imm)
	if e.deleted {
		return c.renderRemoved(dst, e, id)
	}
	if e.raw != nil {
		return append(dst, e.raw...)
	}
	if q.transform != nil || q.expand != nil {
		o := e.obj.clone()
		if q.transform != nil {
			o = q.transform(o)
		}
		if q.expand != nil {
			o = q.expand(e, o)
		}
		b, off, end := o.encode(nil, keepSel)
		return appendWithID(dst, b, off, end, id, e.id)
	}
	if q.partial && q.from > 0 && e.created <= q.from {
		changed := map[string]bool{}
		for _, ch := range e.changes {
			if ch.ver > q.from {
				for _, p := range ch.props {
					changed[strings.ToLower(p)] = true
				}
			}
		}
		keep := func(k string) bool { return changed[k] && (keepSel == nil || keepSel(k)) }
		b, off, end := e.obj.encode(nil, keep)
		return appendWithID(dst, b, off, end, id, e.id)
	}
	if keepSel != nil {
		b, off, end := e.obj.encode(nil, keepSel)
		return appendWithID(dst, b, off, end, id, e.id)
	}
	return appendWithID(dst, e.full, e.idOff, e.idEnd, id, e.id)
}

func (c *collection) renderRemoved(dst []byte, e *entry, id string) []byte {
	if c.tomb != nil {
		return c.tomb(dst, e, id)
	}
	dst = append(dst, `{"@odata.type":"`...)
	dst = append(dst, c.odataType...)
	dst = append(dst, `","id":`...)
	dst = append(dst, raw(id)...)
	return append(dst, `,"@removed":{"reason":"deleted"}}`...)
}

func appendWithID(dst, b []byte, off, end int, id, encodedID string) []byte {
	if id == encodedID || off < 0 {
		return append(dst, b...)
	}
	dst = append(dst, b[:off]...)
	dst = append(dst, raw(id)...)
	return append(dst, b[end:]...)
}

// cursorToken is the state carried by $skiptoken/$deltatoken/token values.
// It also carries the initial request's query so that later requests repeat
// none of it, as Microsoft documents.
type cursorToken struct {
	Key    string            `json:"k"`           // which collection
	From   uint64            `json:"f"`           // round start version
	Snap   uint64            `json:"s"`           // round snapshot version
	Cursor uint64            `json:"c"`           // next log position
	Gen    uint64            `json:"g"`           // expiry generation
	Issued int64             `json:"t"`           // unix seconds
	Delta  bool              `json:"d,omitempty"` // a deltatoken (round done)
	Empty  uint64            `json:"e,omitempty"` // empty pages served (Faults.EmptyPages)
	Query  map[string]string `json:"q,omitempty"`
}

var (
	errTokenMalformed = errors.New("malformed token")
	errTokenExpired   = errors.New("expired token")
)

func (em *Emulator) sealToken(t cursorToken) string {
	b, err := json.Marshal(t)
	if err != nil {
		panic("emulator: encode token: " + err.Error())
	}
	m := hmac.New(sha256.New, em.key[:])
	m.Write(b)
	return base64.RawURLEncoding.EncodeToString(b) + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:12])
}

// openToken verifies a token's MAC, its collection and its age.
func (em *Emulator) openToken(s, key string) (cursorToken, error) {
	var t cursorToken
	body, mac, ok := strings.Cut(s, ".")
	if !ok {
		return t, errTokenMalformed
	}
	b, err1 := base64.RawURLEncoding.DecodeString(body)
	sum, err2 := base64.RawURLEncoding.DecodeString(mac)
	if err1 != nil || err2 != nil {
		return t, errTokenMalformed
	}
	m := hmac.New(sha256.New, em.key[:])
	m.Write(b)
	if !hmac.Equal(m.Sum(nil)[:12], sum) {
		return t, errTokenMalformed
	}
	if err := json.Unmarshal(b, &t); err != nil || t.Key != key {
		return t, errTokenMalformed
	}
	em.tokMu.Lock()
	gen := em.tokenGen
	em.tokMu.Unlock()
	if t.Gen < gen {
		return t, errTokenExpired
	}
	if lt := em.cfg.DeltaTokenLifetime; lt > 0 && em.now().Sub(time.Unix(t.Issued, 0)) > lt {
		return t, errTokenExpired
	}
	return t, nil
}
