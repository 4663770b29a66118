package emulator

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

type batchRequest struct {
	ID        string            `json:"id"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	Body      json.RawMessage   `json:"body"`
	DependsOn []string          `json:"dependsOn"`
}

type batchResponse struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body,omitempty"`
}

const maxBatch = 20

// serveBatch serves POST /$batch: at most 20 requests with unique ids,
// each evaluated on its own (authentication, throttling with its own
// Retry-After), dependsOn honoured with 424 on failed dependencies, and
// gzip request bodies accepted.
func (em *Emulator) serveBatch(c *call) {
	var body io.Reader = http.MaxBytesReader(c.w, c.r.Body, 4<<20)
	if strings.EqualFold(c.r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(body)
		if err != nil {
			c.fail(http.StatusBadRequest, "BadRequest", "Invalid gzip request body.")
			return
		}
		defer zr.Close()
		body = zr
	}
	var in struct {
		Requests []batchRequest `json:"requests"`
	}
	if err := json.NewDecoder(body).Decode(&in); err != nil {
		c.fail(http.StatusBadRequest, "BadRequest", "Invalid batch payload format.")
		return
	}
	if len(in.Requests) == 0 {
		c.fail(http.StatusBadRequest, "BadRequest", "Invalid batch payload format.")
		return
	}
	if len(in.Requests) > maxBatch {
		c.fail(http.StatusBadRequest, "BadRequest", fmt.Sprintf("The number of batch requests (%d) exceeds the limit of %d.", len(in.Requests), maxBatch))
		return
	}
	seen := map[string]bool{}
	for _, r := range in.Requests {
		id := strings.ToLower(r.ID)
		if r.ID == "" || r.URL == "" {
			c.fail(http.StatusBadRequest, "BadRequest", "Every batch request requires an id and a url.")
			return
		}
		if seen[id] {
			c.fail(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Batch request id '%s' is duplicated.", r.ID))
			return
		}
		seen[id] = true
	}
	for _, r := range in.Requests {
		for _, d := range r.DependsOn {
			if !seen[strings.ToLower(d)] {
				c.fail(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Batch request '%s' depends on unknown request '%s'.", r.ID, d))
				return
			}
		}
	}
	var mu sync.Mutex
	results := map[string]batchResponse{}
	var order []string
	done := map[string]chan struct{}{}
	for _, r := range in.Requests {
		done[strings.ToLower(r.ID)] = make(chan struct{})
	}
	sem := make(chan struct{}, 4) // Outlook runs up to 4 sub-requests at once
	var wg sync.WaitGroup
	for _, r := range in.Requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done[strings.ToLower(r.ID)])
			failedDep := false
			for _, d := range r.DependsOn {
				<-done[strings.ToLower(d)]
				mu.Lock()
				if results[strings.ToLower(d)].Status >= 400 {
					failedDep = true
				}
				mu.Unlock()
			}
			var res batchResponse
			if failedDep {
				b, _ := json.Marshal(graphErrorBody("FailedDependency", "Request failed due to a failed dependency.", c.reqID, c.clientReqID, em.now()))
				res = batchResponse{ID: r.ID, Status: http.StatusFailedDependency, Headers: map[string]string{"Content-Type": "application/json"}, Body: b}
			} else {
				sem <- struct{}{}
				res = em.runSub(c, r)
				<-sem
			}
			mu.Lock()
			results[strings.ToLower(r.ID)] = res
			order = append(order, strings.ToLower(r.ID))
			mu.Unlock()
		}()
	}
	wg.Wait()
	out := struct {
		Responses []batchResponse `json:"responses"`
	}{}
	for _, id := range order { // completion order: Graph returns responses in any order
		out.Responses = append(out.Responses, results[id])
	}
	b, _ := json.Marshal(out)
	c.writeJSON(b)
}

// runSub serves one batch sub-request through the normal pipeline.
func (em *Emulator) runSub(parent *call, br batchRequest) batchResponse {
	method := strings.ToUpper(br.Method)
	if method == "" {
		method = http.MethodGet
	}
	target := br.URL
	if !strings.HasPrefix(target, "/") {
		target = "/" + target
	}
	u, err := url.Parse("/v1.0" + target)
	rec := &bufferWriter{h: http.Header{}, status: 200}
	sub := &call{em: em, w: rec, reqID: newGUID(), clientReqID: parent.clientReqID, route: "unmatched"}
	if err != nil {
		sub.fail(http.StatusBadRequest, "BadRequest", "Invalid request URL.")
	} else {
		req, _ := http.NewRequestWithContext(parent.r.Context(), method, u.String(), nil)
		req.Host = parent.r.Host
		req.Header.Set("Authorization", parent.r.Header.Get("Authorization"))
		for k, v := range br.Headers {
			req.Header.Set(k, v)
		}
		sub.r = req
		sub.imm = preferImmutable(req)
		// The deterministic faults (foreign or looping links, empty pages,
		// redirects) answer inside a batch as outside; the random ones
		// (resets, 5xx, truncated bodies) hit the batch's own request.
		sw := &statusWriter{ResponseWriter: rec, status: http.StatusOK}
		sub.w = sw
		sub.route = routeKey(u.Path)
		if !em.applyFixed(sub, sw) {
			em.dispatch(sub)
		}
	}
	em.cnt.request(sub.route, rec.status)
	h := map[string]string{}
	for k := range rec.h {
		if k == "Content-Length" {
			continue
		}
		h[k] = rec.h.Get(k)
	}
	body := rec.b.Bytes()
	if !json.Valid(body) {
		body, _ = json.Marshal(string(body))
	}
	if len(body) == 0 {
		body = nil
	}
	return batchResponse{ID: br.ID, Status: rec.status, Headers: h, Body: body}
}
