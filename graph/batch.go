package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/redact"
)

// MaxBatch is the most requests Graph takes in one JSON batch.
const MaxBatch = 20

// BatchResult is one page of a Batch, or why there is none.
type BatchResult struct {
	Page *Page
	Err  error
}

type batchRequest struct {
	ID      string            `json:"id"`
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
}

type batchResponse struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

// PageRequest is one GET of a Batch: a link as GetPage takes it and the
// call it would go out as on its own.
type PageRequest struct {
	Call Call
	Link string
}

// Batch fetches up to MaxBatch pages in one POST /$batch, with the first
// request's token. The requests may belong to different throttling scopes
// (an Outlook mailbox, a tenant's Teams or OneDrive): Graph evaluates each
// request of a batch against its own limits, so each is charged to its
// scope's gate as GetPage would charge it (its cost, and as many of the
// scope's slots as Graph runs at once, up to 4 for Outlook). A scope whose
// Retry-After window is open longer than MaxInlineWait is left out of the
// batch: its requests come back with that throttling *Error. Every result
// holds a Page or an error: a sub-request Graph answered otherwise than
// 2xx comes back as an *Error (a throttled one with its own RetryAfter,
// whose window its scope's gate keeps, as GetPage's would); a link that
// cannot go into a batch, or a body that is no page, as an error too. The
// caller sends each link without a Page again on its own (GetPage), which
// retries, refreshes and salvages as usual. The error is for the batch as
// a whole.
func (c *Client) Batch(ctx context.Context, gets []PageRequest) ([]BatchResult, error) {
	if len(gets) > MaxBatch {
		return nil, fmt.Errorf("graph: batch of %d requests: Graph takes at most %d", len(gets), MaxBatch)
	}
	results := make([]BatchResult, len(gets))
	if len(gets) == 0 {
		return results, nil
	}
	// Each scope's requests, with what they cost it.
	type scoped struct {
		key   graphsync.Scope
		g     *gate
		idx   []int
		cost  int
		slots int
		held  int
	}
	byScope := map[graphsync.Scope]*scoped{}
	var scopes []*scoped
	reqs := make([]*batchRequest, len(gets))
	for i, get := range gets {
		u, err := c.resolve(get.Link)
		if err != nil {
			results[i].Err = fmt.Errorf("graph: batch %s: %w", get.Call.Resource, err)
			continue
		}
		rel, ok := strings.CutPrefix(u.String(), c.version)
		if !ok || !strings.HasPrefix(rel, "/") {
			results[i].Err = fmt.Errorf("graph: batch %s: %s is not a v1.0 link", get.Call.Resource, redact.Link(u.Path))
			continue
		}
		reqs[i] = &batchRequest{ID: strconv.Itoa(i), Method: http.MethodGet, URL: rel, Headers: c.subHeaders(get.Call)}
		key, limited := scopeOf(get.Call)
		if !limited {
			continue
		}
		s := byScope[key]
		if s == nil {
			s = &scoped{key: key}
			byScope[key] = s
			scopes = append(scopes, s)
		}
		s.idx = append(s.idx, i)
		s.cost += cost(get.Call, &http.Request{Method: http.MethodGet, URL: u})
		s.slots = min(len(s.idx), 4)
	}
	// One order for every batch, so that two batches sharing scopes never
	// each hold one gate while waiting on the other's.
	slices.SortFunc(scopes, func(a, b *scoped) int { return strings.Compare(a.key.String(), b.key.String()) })
	defer func() {
		for _, s := range scopes {
			if s.g != nil {
				s.g.release(s.held)
				c.gates.put(s.g)
			}
		}
	}()
	for _, s := range scopes {
		s.g = c.gates.get(s.key)
		var blocked *Error
		held, err := c.gates.acquire(ctx, s.g, s.cost, s.slots, c.cfg.MaxInlineWait, func(d time.Duration) *Error {
			retryAfterSeconds.WithLabelValues("batch").Add(d.Seconds())
			blocked = &Error{Status: http.StatusTooManyRequests, Message: "a Retry-After window for this " + scopeNoun(s.key) + " is still open",
				RetryAfter: d, method: http.MethodPost, path: "/$batch"}
			return blocked
		})
		switch {
		case blocked != nil:
			for _, i := range s.idx {
				results[i].Err, reqs[i] = blocked, nil
			}
		case err != nil:
			return nil, fmt.Errorf("graph: batch: wait for throttling: %w", err)
		}
		s.held = held
	}
	var send []batchRequest
	for _, r := range reqs {
		if r != nil {
			send = append(send, *r)
		}
	}
	if len(send) == 0 {
		return results, nil
	}
	body, err := json.Marshal(map[string]any{"requests": send})
	if err != nil {
		return nil, fmt.Errorf("graph: batch: encode: %w", err)
	}
	var out struct {
		Responses []batchResponse `json:"responses"`
	}
	// The gates are held above; the batch itself is charged to none. The
	// page size and IdType ride in each request's headers, not the batch's.
	bcall := Call{Token: gets[0].Call.Token, Resource: "batch"}
	rq := request{method: http.MethodPost, link: "/$batch", body: body, safe: true}
	batchID, err := c.do(ctx, bcall, rq, decoder{body: func(b []byte) error { return json.Unmarshal(b, &out) }})
	if err != nil {
		return nil, err
	}
	answered := make([]bool, len(gets))
	for _, r := range out.Responses {
		i, err := strconv.Atoi(r.ID)
		if err != nil || i < 0 || i >= len(gets) || answered[i] || reqs[i] == nil {
			continue // not one of ours
		}
		answered[i] = true
		var g *gate
		key, limited := scopeOf(gets[i].Call)
		if limited {
			g = byScope[key].g
		}
		results[i] = c.subResult(gets[i].Call, g, key, gets[i].Link, r)
		if p := results[i].Page; p != nil && p.RequestID == "" {
			p.RequestID = batchID // answers need not carry their own
		}
	}
	for i := range gets {
		if !answered[i] && results[i].Err == nil {
			results[i].Err = fmt.Errorf("graph: batch %s: no answer for request %d", gets[i].Call.Resource, i)
		}
	}
	return results, nil
}

// subHeaders are the headers GetPage would send with call, for a batch's
// requests.
func (c *Client) subHeaders(call Call) map[string]string {
	h := map[string]string{}
	if p := c.prefer(call, c.pageSize(call, true)); p != "" {
		h["Prefer"] = p
	}
	for k, v := range call.Headers {
		if !strings.EqualFold(k, "Prefer") && !strings.EqualFold(k, "Authorization") && !strings.EqualFold(k, "client-request-id") {
			h[k] = v
		}
	}
	return h
}

// subResult reads one answer of a batch as GetPage reads a response.
func (c *Client) subResult(call Call, g *gate, key graphsync.Scope, link string, r batchResponse) BatchResult {
	h := http.Header{}
	for k, v := range r.Headers {
		h.Set(k, v)
	}
	if g != nil {
		g.adapt.observe(r.Status, h, c.now())
	}
	path := redact.Link(link)
	res := resourceLabel(call.Resource)
	// Graph runs and counts each request of a batch on its own, so the
	// requests counter does too: a throttled one shows as a 429 beside the
	// batch's own 200.
	requestsTotal.WithLabelValues(res, http.MethodGet, statusClass(r.Status, nil)).Inc()
	if r.Status >= 200 && r.Status < 300 {
		pb, err := splitPage(r.Body)
		if err != nil {
			return BatchResult{Err: fmt.Errorf("graph: batch GET %s: decode response: %w", path, err)}
		}
		return BatchResult{Page: &Page{Items: pb.Value, NextLink: pb.NextLink, DeltaLink: pb.DeltaLink, RequestID: h.Get("request-id")}}
	}
	e := newError(http.MethodGet, path, &http.Response{StatusCode: r.Status, Header: h}, r.Body)
	if isRetryStatus(r.Status) {
		ra, given := parseRetryAfter(h.Get("Retry-After"), c.now())
		if !given {
			ra = c.backoff(0)
		}
		e.RetryAfter = ra
		if g != nil && (r.Status == http.StatusTooManyRequests || given) {
			c.gates.block(key, c.now().Add(ra))
		}
		if r.Status == http.StatusTooManyRequests || r.Status == http.StatusServiceUnavailable {
			throttledTotal.WithLabelValues(res, strconv.Itoa(r.Status)).Inc()
		}
	}
	if e.Status == 0 {
		return BatchResult{Err: errors.New("graph: batch answer without a status")}
	}
	return BatchResult{Err: e}
}
