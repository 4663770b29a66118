package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/graphsync/graphsync/graph"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/redact"
	"github.com/graphsync/graphsync/store"
)

// proxyRetries bounds how often a proxied request without a body is sent
// again after Graph throttled it (the wait being within what it allows)
// or refused an access token that had just been replaced.
const proxyRetries = 2

// proxy forwards a request to Graph with the connection's token, through
// the same gates as the sync: the mailbox's in-flight cap and the
// tenant's rate limits in this process, and the Retry-After windows of
// every process (kept in the store).
func (a *API) proxy(w http.ResponseWriter, r *http.Request, q *request) {
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.ProxyTimeout)
	defer cancel()
	link, versionless, err := proxiedLink(r, q.conn)
	if err != nil {
		proxied.WithLabelValues("refused").Inc()
		writeError(w, http.StatusBadRequest, "bad_path", err.Error())
		return
	}
	maxWait, err := a.maxWait(r)
	if err != nil {
		proxied.WithLabelValues("refused").Inc()
		writeError(w, http.StatusBadRequest, "bad_max_wait", err.Error())
		return
	}
	if r.ContentLength > a.cfg.MaxBody {
		proxied.WithLabelValues("refused").Inc()
		writeError(w, http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the body is larger than the %d bytes a proxied request may have", a.cfg.MaxBody))
		return
	}
	conn, err := a.cfg.Store.Connection(ctx, q.conn)
	if err != nil {
		a.tokenError(ctx, w, q.conn, err)
		return
	}
	target := graphsync.TargetOf(versionless)
	mailbox := target.User
	if target.Me || (mailbox != "" && (strings.EqualFold(mailbox, conn.UserID) || strings.EqualFold(mailbox, conn.UserPrincipalName))) {
		// The sync keys the mailbox's gate by the user's id.
		mailbox = conn.UserID
	}
	call := graph.Call{Mailbox: mailbox, Tenant: conn.TenantID, Service: target.Service, Resource: "proxy"}
	scope := graphsync.ScopeOf(call.Service, call.Tenant, call.Mailbox)
	if !scope.IsZero() {
		windows, err := a.cfg.Store.ThrottleWindows(ctx, []graphsync.Scope{scope})
		if err != nil {
			a.unavailable(w, r, "read the throttle windows", err)
			return
		}
		if until, ok := windows[scope]; ok {
			a.cfg.Graph.Block(scope, until)
		}
	}
	var body io.Reader
	if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
		body = http.MaxBytesReader(w, r.Body, a.cfg.MaxBody)
	}
	// The API's own headers are not Graph's business.
	header := r.Header.Clone()
	header.Del(HeaderMaxWait)
	var resp *http.Response
	rejected := ""
	for attempt := 0; ; attempt++ {
		if call.Token, err = a.cfg.Tokens.Access(ctx, q.conn); rejected != "" && err == nil {
			call.Token, err = a.cfg.Tokens.Refresh(ctx, q.conn, rejected)
		}
		if err != nil {
			a.tokenError(ctx, w, q.conn, err)
			return
		}
		resp, err = a.cfg.Graph.Forward(ctx, call, graph.Forwarded{Method: r.Method, Link: link, Header: header,
			Body: body, Size: r.ContentLength, MaxWait: maxWait})
		if err != nil {
			a.proxyFailed(w, r, err)
			return
		}
		retry := false
		switch {
		case resp.StatusCode == http.StatusTooManyRequests || (resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != ""):
			proxied.WithLabelValues("throttled_graph").Inc()
			until := a.cfg.Graph.BlockedUntil(scope)
			if !scope.IsZero() && !until.IsZero() {
				if err := a.cfg.Store.SetThrottle(ctx, scope, until, "Retry-After from Graph (proxied request)"); err != nil {
					a.log.WarnContext(ctx, "record throttle window", "scope", scope.String(), "error", err)
				}
			}
			retry = body == nil && time.Until(until) <= maxWait
		case resp.StatusCode == http.StatusUnauthorized && body == nil && rejected == "":
			rejected, retry = call.Token, true
		}
		if !retry || attempt >= proxyRetries {
			break
		}
		_ = resp.Body.Close()
	}
	defer resp.Body.Close()
	switch s := resp.StatusCode; {
	case s == http.StatusTooManyRequests || (s == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != ""):
	case s >= 500:
		proxied.WithLabelValues("graph_error").Inc()
	case s >= 400:
		proxied.WithLabelValues("client_error").Inc()
	default:
		proxied.WithLabelValues("ok").Inc()
	}
	if resp.ContentLength > a.cfg.MaxBody {
		proxied.WithLabelValues("refused").Inc()
		writeError(w, http.StatusBadGateway, "response_too_large", fmt.Sprintf("Graph's answer has %d bytes, more than the %d a proxied answer may have", resp.ContentLength, a.cfg.MaxBody))
		return
	}
	h := w.Header()
	for k, vs := range resp.Header {
		if !hopByHop(k) {
			h[k] = vs
		}
	}
	w.WriteHeader(resp.StatusCode)
	if err := stream(w, resp.Body, a.cfg.MaxBody); err != nil {
		a.log.WarnContext(ctx, "proxied answer cut short", "path", redact.Link(versionless), "error", err)
		// The status is sent: only dropping the connection tells the app.
		panic(http.ErrAbortHandler)
	}
	if resp.StatusCode < 300 && target.Resource != nil && mailbox != "" && writes(r.Method) {
		a.syncAfterWrite(ctx, conn, mailbox, target.Resource)
	}
}

// proxiedLink is the Graph link of a proxied request: the path after
// /graph/, still escaped as the app sent it, which must start with an API
// version, and its query; and the path without the version.
func proxiedLink(r *http.Request, id int64) (link, versionless string, err error) {
	prefix := "/v1/connections/" + strconv.FormatInt(id, 10) + "/graph/"
	p, ok := strings.CutPrefix(r.URL.EscapedPath(), prefix)
	if !ok {
		// The id was written another way (leading zeros).
		_, p, ok = strings.Cut(r.URL.EscapedPath(), "/graph/")
	}
	rest, okV := strings.CutPrefix(p, "v1.0/")
	if !okV {
		rest, okV = strings.CutPrefix(p, "beta/")
	}
	if !ok || !okV || rest == "" {
		return "", "", errors.New("the path after /graph/ must start with v1.0/ or beta/, e.g. /graph/v1.0/me/messages")
	}
	if strings.Contains(rest, "//") || strings.Contains(rest, "\\") {
		return "", "", errors.New("the path must not contain empty segments or backslashes")
	}
	if strings.HasPrefix(strings.ToLower(rest), "$batch") || strings.HasPrefix(strings.ToLower(rest), "%24batch") {
		// A batch's requests would pass the mailbox's gate as one.
		return "", "", errors.New("$batch is not proxied: send its requests one by one, so that each passes its mailbox's throttle gate")
	}
	link = "/" + p
	if r.URL.RawQuery != "" {
		link += "?" + r.URL.RawQuery
	}
	return link, rest, nil
}

// maxWait is how long a request may wait for a Retry-After window.
func (a *API) maxWait(r *http.Request) (time.Duration, error) {
	v := r.Header.Get(HeaderMaxWait)
	if v == "" {
		return a.cfg.MaxWait, nil
	}
	secs, err := strconv.ParseFloat(v, 64)
	if err != nil || secs < 0 || math.IsNaN(secs) || secs > MaxWaitCap.Seconds() {
		return 0, fmt.Errorf("%s %q is not a number of seconds between 0 and %.0f", HeaderMaxWait, v, MaxWaitCap.Seconds())
	}
	return time.Duration(secs * float64(time.Second)), nil
}

// proxyFailed answers a request that got no answer from Graph: 429 with
// Retry-After when a window of its scope outlasted its wait.
func (a *API) proxyFailed(w http.ResponseWriter, r *http.Request, err error) {
	if ra, ok := graph.IsThrottled(err); ok {
		proxied.WithLabelValues("throttled_local").Inc()
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(ra.Seconds()))))
		writeError(w, http.StatusTooManyRequests, "throttled", fmt.Sprintf("Graph asked for no requests to this scope for %s more; retry after it (or send %s to wait longer)",
			ra.Round(time.Second), HeaderMaxWait))
		return
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		proxied.WithLabelValues("refused").Inc()
		writeError(w, http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the body is larger than the %d bytes a proxied request may have", tooLarge.Limit))
		return
	}
	proxied.WithLabelValues("failed").Inc()
	if errors.Is(err, context.DeadlineExceeded) {
		writeError(w, http.StatusGatewayTimeout, "timeout", "Graph did not answer in time")
		return
	}
	a.log.WarnContext(r.Context(), "proxied request failed", "error", err)
	writeError(w, http.StatusBadGateway, "graph_unreachable", "no answer from Graph")
}

// syncAfterWrite asks for a sync of what a write changed, so that the app
// reads its own write from the tables soon after.
func (a *API) syncAfterWrite(ctx context.Context, conn *store.Connection, user string, r *graphsync.Resource) {
	if a.cfg.Sync == nil || !syncs(conn, r) {
		return
	}
	if user != conn.UserID {
		// An application connection's user, named as the app wrote it:
		// only an id the sync knows names the mailbox's streams (a UPN
		// would start streams of its own).
		if st, err := a.cfg.Store.UserStreams(ctx, conn.ID, user); err != nil || len(st) == 0 {
			return
		}
	}
	if err := a.cfg.Sync.Sync(context.WithoutCancel(ctx), conn.ID, user, r, time.Now()); err != nil {
		a.log.WarnContext(ctx, "queue a sync after a proxied write", "connection_id", conn.ID, "resource", r.Name(), "error", err)
	}
}

func syncs(conn *store.Connection, r *graphsync.Resource) bool {
	for _, have := range conn.Resources {
		if have == r {
			return true
		}
	}
	return false
}

func writes(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPatch, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// hopByHop names the answer's headers that are not passed on.
func hopByHop(name string) bool {
	switch http.CanonicalHeaderKey(name) {
	case "Connection", "Keep-Alive", "Proxy-Authenticate", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length":
		return true
	}
	return false
}

// stream copies an answer's body as it arrives, flushing each read, and
// fails past limit bytes.
func stream(w http.ResponseWriter, body io.Reader, limit int64) error {
	rc := http.NewResponseController(w)
	buf := make([]byte, 32<<10)
	var n int64
	for {
		k, err := body.Read(buf)
		if k > 0 {
			if n += int64(k); n > limit {
				return fmt.Errorf("answer larger than %d bytes", limit)
			}
			if _, werr := w.Write(buf[:k]); werr != nil {
				return werr
			}
			_ = rc.Flush()
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
