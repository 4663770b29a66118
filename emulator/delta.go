package emulator

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
)

// deltaSpec describes one delta-capable endpoint over a collection.
type deltaSpec struct {
	key     string // token binding: which collection
	col     func() *collection
	path    string // link path after /v1.0, e.g. /users/{id}/mailFolders/delta
	context string
	defSize int
	maxSize int
	fnLinks bool // OneDrive function-style links: delta(token='...')
	partial bool
	// initial validates the first request's query, returning the options to
	// carry in tokens; ok=false when it wrote an error.
	initial func(c *call, q url.Values) (map[string]string, bool)
	// filter builds an item filter from the carried options.
	filter func(opts map[string]string) func(e *entry, from uint64) bool
	// removedIf builds the "serve as removed" test from the options.
	removedIf func(opts map[string]string) func(*entry) bool
	// transform rewrites objects for this request (time zones).
	transform func(object) object
	// expand builds, from the carried options, what to add to each entry's
	// object ($expand=replies); nil adds nothing.
	expand func(opts map[string]string, from uint64) func(*entry, object) object
	// selectable is false where $select is refused or ignored.
	selectable bool
	// latest names the "sync from now" parameter value's carrier:
	// "$deltatoken" (directory) or "token" (OneDrive); "" when unsupported.
	latest string
}

func tokenFromQuery(c *call) (name, value string) {
	if c.fnToken != "" {
		return "token", c.fnToken
	}
	q := c.r.URL.Query()
	for _, n := range []string{"$skiptoken", "$deltatoken", "token"} {
		if v, ok := query(q, n); ok && v != "" {
			return n, v
		}
	}
	return "", ""
}

// serveDelta runs one page of a delta round.
func (c *call) serveDelta(s deltaSpec) {
	em := c.em
	name, val := tokenFromQuery(c)
	var t cursorToken
	var err error
	switch {
	case val == "latest" && (s.latest != "" && strings.EqualFold(name, s.latest)):
		em.mu.RLock()
		v := em.version
		em.mu.RUnlock()
		t = cursorToken{Key: s.key, From: v, Gen: em.currentGen(), Issued: em.now().Unix(), Delta: true}
		c.writePage(s, t, pagePrefix(nil, s.context), 0, true)
		return
	case val != "":
		t, err = em.openToken(val, s.key)
		if t.Delta && (err == nil || errors.Is(err, errTokenExpired)) {
			// The client holds that round's result (DeletedTruth), even
			// if the token has expired since.
			em.mu.RLock()
			if col := s.col(); col != nil {
				col.acks.presented(c.tok.reader(), t.From)
			}
			em.mu.RUnlock()
		}
		if err == nil && em.flt.hit(func(f Faults) float64 { return f.DeltaExpired }) {
			em.cnt.fault("delta_expired")
			err = errTokenExpired
		}
		if err != nil {
			c.tokenError(err)
			return
		}
		if t.Delta { // a new round from the deltaLink
			t.Delta = false
			t.Cursor = 0
			t.Snap = 0
		}
	default:
		opts, ok := s.initial(c, c.r.URL.Query())
		if !ok {
			return
		}
		t = cursorToken{Key: s.key, Query: opts}
	}
	if em.emptyPages(c) {
		// An endless chain of distinct empty pages: each link carries the
		// round's position unchanged and a new count, so it stays valid.
		em.cnt.fault("empty_page")
		if t.Snap == 0 {
			em.mu.RLock()
			t.Snap = em.version
			em.mu.RUnlock()
		}
		t.Empty++
		t.Gen, t.Issued = em.currentGen(), em.now().Unix()
		c.writePage(s, t, pagePrefix(nil, s.context), 0, false)
		return
	}
	size := s.defSize
	if v := t.Query["$top"]; v != "" {
		n, _ := strconv.Atoi(v)
		size = n
	}
	applied := 0
	if n := maxPageSize(c.r); n > 0 {
		size, applied = n, n
	}
	size = min(max(size, 1), s.maxSize)
	if applied > 0 {
		applied = size
	}
	q := deltaQuery{from: t.From, cursor: t.Cursor, size: size, imm: c.imm, partial: s.partial && em.cfg.PartialUpdates}
	if s.selectable {
		q.sel = selectSet(t.Query["$select"])
	}
	if s.filter != nil {
		q.keep = s.filter(t.Query)
	}
	if s.removedIf != nil {
		q.removedIf = s.removedIf(t.Query)
	}
	q.transform = s.transform
	if s.expand != nil {
		q.expand = s.expand(t.Query, t.From)
	}
	bp := pageBufs.Get().(*[]byte)
	buf := pagePrefix((*bp)[:0], s.context)
	em.mu.RLock()
	if t.Snap == 0 {
		t.Snap = em.version
	}
	q.snap = t.Snap
	col := s.col()
	var n int
	var done bool
	if col != nil {
		buf, n, t.Cursor, done = col.page(buf, q)
		if done {
			col.acks.served(c.tok.reader(), t.Snap, em.version)
		}
	} else {
		done = true
	}
	em.mu.RUnlock()
	_ = n
	t.Gen, t.Issued = em.currentGen(), em.now().Unix()
	if done {
		t = cursorToken{Key: s.key, From: t.Snap, Gen: t.Gen, Issued: t.Issued, Delta: true, Query: t.Query}
	}
	if applied > 0 {
		c.w.Header().Set("Preference-Applied", "odata.maxpagesize="+strconv.Itoa(applied))
	}
	if c.imm {
		c.w.Header().Add("Preference-Applied", `IdType="ImmutableId"`)
	}
	c.writePage(s, t, buf, n, done)
	if cap(buf) <= maxPooledPage {
		*bp = buf[:0]
		pageBufs.Put(bp)
	}
}

// pageBufs recycles page buffers: allocating (and zeroing) a page-sized
// buffer per request dominated the emulator's CPU when it served many
// small idle pages. Buffers above maxPooledPage are left to the collector.
var pageBufs = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

const maxPooledPage = 16 << 20

func (c *call) writePage(s deltaSpec, t cursorToken, items []byte, n int, done bool) {
	tok := c.em.sealToken(t)
	var link string
	switch {
	case s.fnLinks:
		link = c.base() + s.path + "(token='" + tok + "')"
	case done:
		link = c.base() + s.path + "?$deltatoken=" + tok
	default:
		link = c.base() + s.path + "?$skiptoken=" + tok
	}
	// items already sits after the page prefix; finish the body in place.
	if done {
		items = append(items, `],"@odata.deltaLink":`...)
	} else {
		items = append(items, `],"@odata.nextLink":`...)
	}
	items = append(items, raw(link)...)
	c.writeJSON(append(items, '}'))
}

func pagePrefix(dst []byte, context string) []byte {
	dst = append(dst, `{"@odata.context":`...)
	dst = append(dst, raw(context)...)
	return append(dst, `,"value":[`...)
}

// tokenError answers a bad or expired token in the service's documented way.
func (c *call) tokenError(err error) {
	expired := errors.Is(err, errTokenExpired)
	switch c.svc {
	case svcDrive:
		if expired {
			// OneDrive: 410 with a Location header that starts over.
			c.w.Header().Set("Location", c.base()+strings.TrimSuffix(routePathFor(c), "/")+"")
			c.fail(http.StatusGone, "resyncRequired", "Resync required. Replace any local items with the server's version (including deletes) if you're sure that the service was up to date with your local changes when you last sync'd. Upload any local changes that the server doesn't know about.")
			return
		}
		c.fail(http.StatusBadRequest, "invalidRequest", "Invalid token.")
	case svcDirectory:
		if expired {
			c.fail(http.StatusBadRequest, "syncStateNotFound", "The sync state generation is not found. The delta token is expired and data must be synchronized again.")
			return
		}
		c.fail(http.StatusBadRequest, "BadRequest", "Badly formed token.")
	default:
		if expired {
			c.fail(http.StatusGone, "SyncStateNotFound", "The sync state generation is not found. The delta token is expired and data must be synchronized again.")
			return
		}
		c.fail(http.StatusBadRequest, "BadRequest", "Badly formed token.")
	}
}

// routePathFor rebuilds the request path without its token, for OneDrive's
// Location header.
func routePathFor(c *call) string {
	p := strings.TrimPrefix(c.r.URL.Path, "/v1.0")
	if i := strings.Index(p, "("); i >= 0 {
		p = p[:i]
	}
	return p
}

// refuse writes a 400 for an unsupported query option.
func refuse(c *call, code, msg string) (map[string]string, bool) {
	c.fail(http.StatusBadRequest, code, msg)
	return nil, false
}

// deltaOption checks the value of one query option of an initial delta
// request and returns what to carry in the round's tokens; false after it
// has answered 400.
type deltaOption func(c *call, v string) (string, bool)

// reject answers 400 for a bad option value.
func reject(c *call, code, msg string) (string, bool) {
	c.fail(http.StatusBadRequest, code, msg)
	return "", false
}

// carry keeps an option's value as given.
func carry(_ *call, v string) (string, bool) { return v, true }

// deltaOptions reads an initial delta request's query options: each must
// be one of allowed (by name without "$", lower case) and is carried as
// "$name"; any other is refused 400 with code and unsupported, a format
// naming the option.
func deltaOptions(c *call, q url.Values, code, unsupported string, allowed map[string]deltaOption) (map[string]string, bool) {
	opts := map[string]string{}
	for k, vs := range q {
		name := strings.ToLower(strings.TrimPrefix(k, "$"))
		check, ok := allowed[name]
		if !ok {
			return refuse(c, code, fmt.Sprintf(unsupported, k))
		}
		v, ok := check(c, vs[0])
		if !ok {
			return nil, false
		}
		opts["$"+name] = v
	}
	return opts, true
}
