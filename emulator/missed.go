package emulator

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// Changes delta misses, as Microsoft documents them (Config.MissedChanges),
// and the id-only listings a client reconciles through.
//
//   - Messages: with immutable ids, "if ... an item is moved from folder A to
//     folder B and then back to folder A ... the moved item will be reported
//     as deleted from folder A and will not be reported again until it's
//     changed/deleted/moved again" (microsoftgraph/microsoft-graph-docs#21752,
//     the Graph known issues).
//   - OneDrive and SharePoint: deletions occasionally arrive without a
//     tombstone (OneDrive/onedrive-api-docs#1927).
//
// The ground truth stays right; only delta leaves these changes out.

// missedReturn reports whether, in a folder's delta round from `from`
// requested with immutable ids, e is a message's return to the folder that
// Outlook leaves out: an earlier visit of the same message to this folder
// was there at the round's start and left during the round, and the
// message has not changed since it came back.
func missedReturn(f *folder, e *entry, from uint64) bool {
	m, ok := e.aux.(*message)
	if !ok || from == 0 || e.deleted || e.created <= from || len(e.changes) > 0 {
		return false
	}
	for g := 0; g < m.gen; g++ {
		old := f.msgs.entries[m.imm+"#"+strconv.Itoa(g)]
		if old != nil && old != e && old.created <= from && old.deleted && old.ver() > from {
			return true
		}
	}
	return false
}

// silentDrop reports whether a drive item's deletion goes without a
// tombstone: about one deletion in three, chosen by the item's hash.
func (em *Emulator) silentDrop(e *entry) bool {
	return em.cfg.MissedChanges && mix64(e.aux.(*driveState).hash)%3 == 0
}

// listFolderMessages serves /users/{id}/mailFolders/{id}/messages: the
// folder's messages newest first, 10 a page (`$top` up to 1,000), pages
// linked by $skip as Outlook's lists are; $select (an id-only listing is
// $select=id) and $orderby=receivedDateTime desc. Messages of the lazy
// archive are listed after the stored ones, generated on the spot.
func (c *call) listFolderMessages() {
	q := c.r.URL.Query()
	size, skip := outlookDefaultPage, 0
	for k, vs := range q {
		v := vs[0]
		switch strings.ToLower(strings.TrimPrefix(k, "$")) {
		case "select":
		case "top":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				c.fail(http.StatusBadRequest, "ErrorInvalidUrlQuery", "The value of the parameter 'Top' is invalid.")
				return
			}
			size = min(n, outlookMaxPage)
		case "skip":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				c.fail(http.StatusBadRequest, "ErrorInvalidUrlQuery", "The value of the parameter 'Skip' is invalid.")
				return
			}
			skip = n
		case "orderby":
			if !strings.EqualFold(strings.Join(strings.Fields(v), " "), "receivedDateTime desc") {
				c.fail(http.StatusBadRequest, "ErrorInvalidUrlQuery", "The emulator orders messages by receivedDateTime desc only.")
				return
			}
		default:
			c.fail(http.StatusBadRequest, "ErrorInvalidUrlQuery", fmt.Sprintf("The query parameter '%s' is not supported by the emulator.", k))
			return
		}
	}
	if n := maxPageSize(c.r); n > 0 {
		size = min(n, outlookMaxPage)
	}
	keep := selectKeep(q)
	em := c.em
	em.mu.RLock()
	f := c.user.mail.folder(c.args["f"])
	if f == nil {
		em.mu.RUnlock()
		c.fail(http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
		return
	}
	var stored []*entry
	for _, e := range f.msgs.entries {
		if !e.deleted && e.raw == nil {
			stored = append(stored, e)
		}
	}
	sort.Slice(stored, func(i, j int) bool {
		a, b := stored[i].obj.str("receivedDateTime"), stored[j].obj.str("receivedDateTime")
		return a > b || (a == b && stored[i].key < stored[j].key)
	})
	total := len(stored)
	if f.msgs.lazy != nil {
		total += f.msgs.lazy.n
	}
	out := append([]byte(`{"@odata.context":`), raw(c.context("users('"+c.user.id+"')/mailFolders('"+f.id+"')/messages"))...)
	end := min(skip+size, total)
	if end < total {
		next := url.Values{}
		for k, v := range q {
			if !strings.EqualFold(strings.TrimPrefix(k, "$"), "skip") {
				next[k] = v
			}
		}
		next.Set("$skip", strconv.Itoa(end))
		out = append(out, `,"@odata.nextLink":`...)
		out = append(out, raw(c.base()+strings.TrimPrefix(c.r.URL.Path, "/v1.0")+"?"+next.Encode())...)
	}
	out = append(out, `,"value":[`...)
	for i := skip; i < end; i++ {
		if i > skip {
			out = append(out, ',')
		}
		if i < len(stored) {
			e := stored[i]
			b, off, idEnd := e.obj.encode(nil, keep)
			out = appendWithID(out, b, off, idEnd, e.servedID(c.imm), e.id)
			continue
		}
		out = f.msgs.lazy.append(out, i-len(stored), keep, c.imm)
	}
	em.mu.RUnlock()
	c.writeJSON(append(out, "]}"...))
}
