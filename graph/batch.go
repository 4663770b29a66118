package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

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

// Batch fetches up to MaxBatch pages of one throttling scope (call's) in
// one POST /$batch: links are what GetPage takes. Graph evaluates each
// request of a batch against its limits on its own, so each counts against
// the scope's budget as a request, and the batch holds as many of the
// scope's slots as Graph runs at once (up to 4 for Outlook). Every result
// holds a Page or an error: a sub-request Graph answered otherwise than
// 2xx comes back as an *Error (a throttled one with its own RetryAfter,
// whose window the scope's gate keeps, as GetPage's would); a link that
// cannot go into a batch, or a body that is no page, as an error too. The
// caller sends each link without a Page again on its own (GetPage), which
// retries, refreshes and salvages as usual. The error is for the batch as
// a whole.
func (c *Client) Batch(ctx context.Context, call Call, links []string) ([]BatchResult, error) {
	if len(links) > MaxBatch {
		return nil, fmt.Errorf("graph: batch of %d requests: Graph takes at most %d", len(links), MaxBatch)
	}
	results := make([]BatchResult, len(links))
	var reqs []batchRequest
	headers := c.subHeaders(call)
	for i, link := range links {
		u, err := c.resolve(link)
		if err != nil {
			results[i].Err = fmt.Errorf("graph: batch %s: %w", call.Resource, err)
			continue
		}
		rel, ok := strings.CutPrefix(u.String(), c.version)
		if !ok || !strings.HasPrefix(rel, "/") {
			results[i].Err = fmt.Errorf("graph: batch %s: %s is not a v1.0 link", call.Resource, redact.Link(u.Path))
			continue
		}
		reqs = append(reqs, batchRequest{ID: strconv.Itoa(i), Method: http.MethodGet, URL: rel, Headers: headers})
	}
	if len(reqs) == 0 {
		return results, nil
	}
	body, err := json.Marshal(map[string]any{"requests": reqs})
	if err != nil {
		return nil, fmt.Errorf("graph: batch %s: encode: %w", call.Resource, err)
	}
	var out struct {
		Responses []batchResponse `json:"responses"`
	}
	// The page size and IdType ride in each request's headers, not the
	// batch's.
	bcall := call
	bcall.ImmutableIDs, bcall.PageSize, bcall.Headers = false, 0, nil
	rq := request{method: http.MethodPost, link: "/$batch", body: body, cost: len(reqs), slots: min(len(reqs), 4), safe: true}
	batchID, err := c.do(ctx, bcall, rq, decoder{body: func(b []byte) error { return json.Unmarshal(b, &out) }})
	if err != nil {
		return nil, err
	}
	key, limited := scopeOf(call)
	var g *gate
	if limited {
		g = c.gates.get(key)
		defer c.gates.put(g)
	}
	answered := make([]bool, len(links))
	for _, r := range out.Responses {
		i, err := strconv.Atoi(r.ID)
		if err != nil || i < 0 || i >= len(links) || answered[i] || results[i].Err != nil {
			continue // not one of ours
		}
		answered[i] = true
		results[i] = c.subResult(call, g, key, links[i], r)
		if p := results[i].Page; p != nil && p.RequestID == "" {
			p.RequestID = batchID // answers need not carry their own
		}
	}
	for i := range links {
		if !answered[i] && results[i].Err == nil {
			results[i].Err = fmt.Errorf("graph: batch %s: no answer for request %d", call.Resource, i)
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
