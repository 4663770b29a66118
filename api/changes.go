package api

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/graphsync/graphsync/changes"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

// changesBody is one read of the change feed.
type changesBody struct {
	Changes []changeItem     `json:"changes"`
	Next    graphsync.Cursor `json:"next"`
	More    bool             `json:"more"`
}

// changeItem is a change and the cursor after it.
type changeItem struct {
	graphsync.Change
	Cursor graphsync.Cursor `json:"cursor"`
}

// DefaultChangesLimit is how many changes a read returns when it does not
// say.
const DefaultChangesLimit = 100

// changes reads the change feed after a cursor. A key limited to some
// connections reads only theirs.
func (a *API) changes(w http.ResponseWriter, r *http.Request, q *request) {
	v := r.URL.Query()
	limit := DefaultChangesLimit
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > changes.MaxLimit {
			writeError(w, http.StatusBadRequest, "bad_limit", fmt.Sprintf("limit %q is not between 1 and %d", s, changes.MaxLimit))
			return
		}
		limit = n
	}
	var after graphsync.Cursor
	switch s := v.Get("after"); s {
	case "", "start":
	case "now":
		c, err := a.feed.Now(r.Context())
		if err != nil {
			a.unavailable(w, r, "read the change feed", err)
			return
		}
		after = c
	default:
		c, err := graphsync.ParseCursor(s)
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad_cursor", err.Error())
			return
		}
		after = c
	}
	var filter changes.Filter
	if s := v.Get("resources"); s != "" {
		rs, err := graphsync.ParseResources(s)
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad_resources", err.Error())
			return
		}
		filter.Resources = graphsync.Names(rs)
	}
	if s := v.Get("connections"); s != "" {
		for _, part := range strings.Split(s, ",") {
			id, err := strconv.ParseInt(strings.TrimSpace(part), 10, 64)
			if err != nil || id <= 0 {
				writeError(w, http.StatusBadRequest, "bad_connections", fmt.Sprintf("connection id %q is not a positive number", part))
				return
			}
			if !q.key.Covers(id) {
				writeError(w, http.StatusForbidden, "connection_denied", fmt.Sprintf("this API key may not use connection %d", id))
				return
			}
			filter.Connections = append(filter.Connections, id)
		}
	}
	if !q.key.All && len(filter.Connections) == 0 {
		if len(q.key.Connections) == 0 {
			writeError(w, http.StatusForbidden, "connection_denied", "this API key may use no connection yet")
			return
		}
		filter.Connections = slices.Clone(q.key.Connections)
	}
	p, err := a.feed.Read(r.Context(), after, filter, limit)
	var expired *store.CursorExpiredError
	switch {
	case errors.As(err, &expired):
		writeError(w, http.StatusGone, "cursor_expired", expired.Error())
		return
	case err != nil:
		a.unavailable(w, r, "read the change feed", err)
		return
	}
	body := changesBody{Changes: make([]changeItem, len(p.Changes)), Next: p.Next, More: p.More}
	for i, c := range p.Changes {
		body.Changes[i] = changeItem{Change: c, Cursor: p.After(i)}
	}
	writeJSON(w, http.StatusOK, body)
}

// unavailable answers 503 for a failure of graphsync's own (the database),
// logged with its cause.
func (a *API) unavailable(w http.ResponseWriter, r *http.Request, what string, err error) {
	a.log.ErrorContext(r.Context(), what, "error", err)
	writeError(w, http.StatusServiceUnavailable, "unavailable", "could not "+what+" now; retry")
}
