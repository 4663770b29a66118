package graph

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/graphsync/graphsync/internal/origin"
	"github.com/graphsync/graphsync/internal/redact"
)

// Forwarded is a request built elsewhere (the app API's proxy) that
// Forward sends as it is.
type Forwarded struct {
	Method string
	// Link is a path under Graph's origin (/v1.0/me/messages?$top=5) or an
	// absolute link on it.
	Link string
	// Header is sent except the hop-by-hop headers and those that are
	// ours: Authorization and client-request-id.
	Header http.Header
	// Body is streamed as it is read; nil for none. Size is its length, -1
	// when unknown.
	Body io.Reader
	Size int64
	// MaxWait is the longest Retry-After window of the scope waited here
	// before sending; a longer one returns an *Error with RetryAfter and
	// sends nothing.
	MaxWait time.Duration
}

// hopHeaders are not forwarded (RFC 9110, section 7.6.1).
var hopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Authorization", "Client-Request-Id", "Host", "Content-Length", "Cookie"}

// Forward sends one request through the call's gate, like the sync's own:
// it waits for the scope's Retry-After window (up to MaxWait), its rate
// limit and a free in-flight slot, which it holds until the response's
// body is closed, so the mailbox's cap counts the whole exchange. It is
// sent once: a body cannot be read twice, and a write may have been
// carried out. A Retry-After in the answer opens the scope's window for
// everyone in this process. The caller must close the response's body.
func (c *Client) Forward(ctx context.Context, call Call, f Forwarded) (*http.Response, error) {
	u, err := c.resolve(f.Link)
	if err != nil {
		return nil, fmt.Errorf("graph: forward %s: %w", f.Method, err)
	}
	path := redact.Link(u.Path)
	res := resourceLabel(call.Resource)
	key, limited := scopeOf(call)
	var g *gate
	if limited {
		g = c.gates.get(key)
	}
	done := sync.OnceFunc(func() { c.gates.put(g) })
	onBlocked := func(d time.Duration) *Error {
		retryAfterSeconds.WithLabelValues(res).Add(d.Seconds())
		return &Error{Status: http.StatusTooManyRequests, Message: "a Retry-After window for this " + scopeNoun(key) + " is still open",
			RetryAfter: d, method: f.Method, path: path}
	}
	req, err := http.NewRequestWithContext(ctx, f.Method, u.String(), f.Body)
	if err != nil {
		done()
		return nil, fmt.Errorf("graph: forward %s %s: %w", f.Method, path, err)
	}
	if f.Body != nil {
		req.ContentLength = f.Size
		if f.Size == 0 {
			req.Body = http.NoBody
		}
	}
	for k, vs := range f.Header {
		if !isHop(k) {
			req.Header[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
		}
	}
	req.Header.Set("Authorization", "Bearer "+call.Token)
	req.Header.Set("client-request-id", newRequestID())
	held, err := c.gates.acquire(ctx, g, cost(call, req), 1, f.MaxWait, onBlocked)
	if err != nil {
		done()
		var ge *Error
		if errors.As(err, &ge) {
			return nil, ge
		}
		return nil, fmt.Errorf("graph: forward %s %s: wait for throttling: %w", f.Method, path, err)
	}
	start := time.Now()
	resp, err := c.cfg.HTTPClient.Do(req)
	if err == nil && isRetryStatus(resp.StatusCode) {
		ra, given := parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
		if !given {
			ra = c.backoff(0)
		}
		// Before the slot is given back, as in do.
		if g != nil && (resp.StatusCode == http.StatusTooManyRequests || given) {
			c.gates.block(key, c.now().Add(ra))
		}
		if s := resp.StatusCode; s == http.StatusTooManyRequests || s == http.StatusServiceUnavailable {
			throttledTotal.WithLabelValues(res, strconv.Itoa(s)).Inc()
		}
	}
	if g != nil && resp != nil {
		// The answers feed the gate's adaptive limits like the sync's.
		g.adapt.observe(resp.StatusCode, resp.Header, c.now())
	}
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	requestsTotal.WithLabelValues(res, f.Method, statusClass(status, err)).Inc()
	requestDuration.WithLabelValues(res, f.Method).Observe(time.Since(start).Seconds())
	c.cfg.Logger.DebugContext(ctx, "graph request forwarded", "resource", res, "method", f.Method, "path", path, "status", status,
		"duration", time.Since(start))
	if err != nil {
		g.release(held)
		done()
		var redirect *origin.RedirectError
		if errors.As(err, &redirect) {
			return nil, fmt.Errorf("graph: forward %s %s: %w", f.Method, path, err)
		}
		return nil, fmt.Errorf("graph: forward %s %s: %w", f.Method, path, redact.URLError(err))
	}
	release := sync.OnceFunc(func() { g.release(held); done() })
	resp.Body = &releasingBody{ReadCloser: resp.Body, release: release}
	return resp, nil
}

func isHop(name string) bool {
	for _, h := range hopHeaders {
		if strings.EqualFold(h, name) {
			return true
		}
	}
	return false
}

// releasingBody gives the gate's slot back when the body is closed.
type releasingBody struct {
	io.ReadCloser
	release func()
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}
