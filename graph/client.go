package graph

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/origin"
	"github.com/graphsync/graphsync/internal/redact"
)

// Config configures a Client. Zero values take the documented defaults.
type Config struct {
	// BaseURL is Graph's origin, e.g. https://graph.microsoft.com, without a
	// version; relative paths resolve against BaseURL+"/v1.0".
	BaseURL string
	// HTTPClient defaults to a client with dial, TLS and response-header
	// timeouts of 30s, Timeout per request, and a large idle pool. Whichever
	// client is given, redirects are followed within Graph's origin only.
	HTTPClient *http.Client
	// Timeout bounds one request of the default HTTPClient, body included;
	// default 100s. A timed-out GET is retried like a reset connection.
	Timeout time.Duration
	// MaxPageSize is sent as Prefer: odata.maxpagesize on Outlook
	// collections, the only ones that honour it (Call.PageSize overrides it
	// per request). 0 leaves Graph's default.
	MaxPageSize int
	// MailboxRate and MailboxBurst limit requests per mailbox. Outlook
	// allows 10,000 requests per 10 minutes per app and mailbox.
	MailboxRate  rate.Limit
	MailboxBurst int
	// MailboxConcurrency caps requests in flight per mailbox; Outlook
	// rejects a fifth concurrent request with MailboxConcurrency errors.
	MailboxConcurrency int
	// TenantRate limits Teams requests per second per tenant; 20 is the
	// documented limit for reading chat messages.
	TenantRate rate.Limit
	// DriveUnitsPerMinute limits OneDrive resource units per tenant; 1,200
	// is the documented limit for the smallest tenants.
	DriveUnitsPerMinute int
	// DirectoryUnitsPer10s limits the directory's (users, groups)
	// resource units per tenant in any 10 seconds; 3,500 is the documented
	// limit for tenants of under 50 users (5,000 up to 500 users, 8,000
	// above). Without it the directory's RateLimit warnings and 429s
	// would have no rate to slow down.
	DirectoryUnitsPer10s int
	// FixedGates keeps every gate at its configured rate and concurrency
	// whatever Graph answers (Retry-After windows are still honoured); by
	// default gates adapt (see adapt.go). For comparisons.
	FixedGates bool
	// Budgets, when set, keeps the Teams and OneDrive limits above as
	// buckets every process shares (store.Store, in PostgreSQL): however
	// many processes run, a tenant's requests stay within them in any
	// second (Teams) or minute (OneDrive). Without it each process keeps
	// its own buckets.
	Budgets Budgets
	// MaxInlineWait is the longest Retry-After waited in place. Longer ones
	// come back as an *Error with RetryAfter set, to snooze the job.
	MaxInlineWait time.Duration
	// MaxRetries bounds retries of GETs answered 429, 500, 502, 503 or 504,
	// cut short, reset or timed out, or malformed.
	MaxRetries int
	Logger     *slog.Logger
}

const (
	defaultMailboxRate        = rate.Limit(10000.0 / 600)
	defaultMailboxBurst       = 50
	defaultMailboxConcurrency = 4
	defaultTenantRate         = rate.Limit(20)
	defaultDriveUnits         = 1200
	defaultDirectoryUnits     = 3500
	defaultMaxInlineWait      = 5 * time.Second
	defaultMaxRetries         = 3
	maxBodyBytes              = 64 << 20
)

func (c *Config) validate() error {
	if c.BaseURL == "" {
		return errors.New("graphsync: Config.BaseURL is required")
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("graphsync: Config.BaseURL %q is not an http(s) origin", c.BaseURL)
	}
	if strings.HasSuffix(strings.TrimRight(u.Path, "/"), "/v1.0") || strings.HasSuffix(strings.TrimRight(u.Path, "/"), "/beta") {
		return fmt.Errorf("graphsync: Config.BaseURL %q must not include the API version", c.BaseURL)
	}
	switch {
	case c.MaxPageSize < 0:
		return errors.New("graphsync: Config.MaxPageSize must not be negative")
	case c.MailboxRate < 0:
		return errors.New("graphsync: Config.MailboxRate must not be negative")
	case c.MailboxBurst < 0:
		return errors.New("graphsync: Config.MailboxBurst must not be negative")
	case c.MailboxConcurrency < 0:
		return errors.New("graphsync: Config.MailboxConcurrency must not be negative")
	case c.TenantRate < 0:
		return errors.New("graphsync: Config.TenantRate must not be negative")
	case c.DriveUnitsPerMinute < 0:
		return errors.New("graphsync: Config.DriveUnitsPerMinute must not be negative")
	case c.DirectoryUnitsPer10s < 0:
		return errors.New("graphsync: Config.DirectoryUnitsPer10s must not be negative")
	case c.DirectoryUnitsPer10s > 0 && c.DirectoryUnitsPer10s < 2:
		return errors.New("graphsync: Config.DirectoryUnitsPer10s must be at least 2")
	case c.TenantRate > 0 && c.TenantRate < 2:
		return errors.New("graphsync: Config.TenantRate must be at least 2 requests per second")
	case c.DriveUnitsPerMinute > 0 && c.DriveUnitsPerMinute < 2:
		return errors.New("graphsync: Config.DriveUnitsPerMinute must be at least 2")
	case c.MaxInlineWait < 0:
		return errors.New("graphsync: Config.MaxInlineWait must not be negative")
	case c.MaxRetries < 0:
		return errors.New("graphsync: Config.MaxRetries must not be negative")
	case c.Timeout < 0:
		return errors.New("graphsync: Config.Timeout must not be negative")
	}
	return nil
}

func (c *Config) withDefaults() {
	if c.MailboxRate == 0 {
		c.MailboxRate = defaultMailboxRate
	}
	if c.MailboxBurst == 0 {
		c.MailboxBurst = defaultMailboxBurst
	}
	if c.MailboxConcurrency == 0 {
		c.MailboxConcurrency = defaultMailboxConcurrency
	}
	if c.TenantRate == 0 {
		c.TenantRate = defaultTenantRate
	}
	if c.DriveUnitsPerMinute == 0 {
		c.DriveUnitsPerMinute = defaultDriveUnits
	}
	if c.DirectoryUnitsPer10s == 0 {
		c.DirectoryUnitsPer10s = defaultDirectoryUnits
	}
	if c.MaxInlineWait == 0 {
		c.MaxInlineWait = defaultMaxInlineWait
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = defaultMaxRetries
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Timeout == 0 {
		c.Timeout = 100 * time.Second
	}
	if c.HTTPClient == nil {
		c.HTTPClient = newHTTPClient(c.Timeout)
	}
	// A redirect elsewhere would carry the bearer token with it.
	c.HTTPClient = origin.Guard(c.HTTPClient)
}

func newHTTPClient(timeout time.Duration) *http.Client {
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           dialer.DialContext,
			ForceAttemptHTTP2:     true,
			TLSHandshakeTimeout:   30 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
			ExpectContinueTimeout: time.Second,
			MaxIdleConns:          512,
			MaxIdleConnsPerHost:   256,
			IdleConnTimeout:       90 * time.Second,
		},
	}
}

// Client sends GET requests to Graph under per-mailbox and per-tenant
// throttling, retries what is safe to retry, and returns typed errors. It is
// safe for concurrent use; share one per process so that every goroutine
// sees the same Retry-After windows.
type Client struct {
	cfg      Config
	origin   *url.URL // scheme and host that may receive our bearer tokens
	basePath string   // BaseURL's path, under which the API versions lie
	version  string   // BaseURL + "/v1.0"
	gates    *gates
	now      func() time.Time

	backoffBase, backoffMax time.Duration
}

// NewClient returns a Client for cfg.
func NewClient(cfg Config) (*Client, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.withDefaults()
	base, _ := url.Parse(cfg.BaseURL)
	c := &Client{
		cfg:         cfg,
		origin:      base,
		basePath:    strings.TrimRight(base.Path, "/"),
		version:     strings.TrimRight(cfg.BaseURL, "/") + "/v1.0",
		now:         time.Now,
		backoffBase: 500 * time.Millisecond,
		backoffMax:  30 * time.Second,
	}
	c.gates = newGates(func() time.Time { return c.now() }, c.newGate, cfg.Budgets)
	return c, nil
}

func (c *Client) newGate(k graphsync.Scope) *gate {
	g := &gate{scope: k}
	var budget Budget
	switch {
	case k.IsMailbox():
		g.base = float64(c.cfg.MailboxRate)
		g.lim, g.burst = rate.NewLimiter(c.cfg.MailboxRate, c.cfg.MailboxBurst), c.cfg.MailboxBurst
		g.slots = newSlots(c.cfg.MailboxConcurrency)
		g.adapt = newAdapt(g.base, c.cfg.MailboxConcurrency, graphsync.Outlook.String(), c.cfg.FixedGates)
		return g
	case k.Service == graphsync.Teams:
		budget = Budget{Units: float64(c.cfg.TenantRate), Per: time.Second}
	case k.Service == graphsync.OneDrive:
		budget = Budget{Units: float64(c.cfg.DriveUnitsPerMinute), Per: time.Minute, MaxCost: permissionUnits}
	case k.Service == graphsync.Directory:
		budget = Budget{Units: float64(c.cfg.DirectoryUnitsPer10s), Per: 10 * time.Second}
	}
	if budget.Units == 0 {
		g.adapt = newAdapt(0, 0, k.Service.String(), c.cfg.FixedGates)
		return g
	}
	if c.cfg.Budgets != nil {
		g.share = newShare(k, budget)
		g.base = g.share.rate
	} else {
		r, burst, _ := budget.bucket()
		g.base, g.burst = r, max(1, int(burst))
		g.lim = rate.NewLimiter(rate.Limit(r), g.burst)
	}
	g.adapt = newAdapt(g.base, 0, k.Service.String(), c.cfg.FixedGates)
	return g
}

// BlockedUntil returns the end of the scope's Retry-After window in this
// process, or the zero time when requests to it may leave.
func (c *Client) BlockedUntil(scope graphsync.Scope) time.Time {
	return c.gates.blockedUntil(scope)
}

// Block keeps requests to scope from leaving this process until until, e.g.
// a window another process recorded after a 429.
func (c *Client) Block(scope graphsync.Scope, until time.Time) {
	if scope.IsZero() {
		return
	}
	c.gates.block(scope, until)
}

// Call describes who a request is for and how it is throttled and labelled.
type Call struct {
	Token        string // bearer access token; never logged
	Mailbox      string // mailbox or user id: Outlook and People throttling scope
	Tenant       string // tenant id: Teams, OneDrive and directory throttling scope
	Service      graphsync.Service
	Resource     string            // bounded metric label: mail, calendar, drive, chats, people, contacts, users, me
	ImmutableIDs bool              // send Prefer: IdType="ImmutableId" (needed on every request, links included)
	Headers      map[string]string // extra headers; Prefer values are merged into one header
	// PageSize, when positive, is the odata.maxpagesize of this request
	// instead of Config.MaxPageSize (Outlook collections only).
	PageSize int
	// Salvage reads a page item by item as it arrives, for a page that
	// could not be read whole (see UnreadablePageError): the items that
	// are valid JSON within the body cap come back in Page.Items, the
	// others in Page.Refused.
	Salvage bool
}

// Get fetches a single object such as /me or /me/drive into out.
func (c *Client) Get(ctx context.Context, call Call, link string, out any) error {
	_, err := c.do(ctx, call, request{method: http.MethodGet, link: link}, decoder{body: func(body []byte) error {
		return json.Unmarshal(body, out)
	}})
	return err
}

// Send sends a POST, PATCH or DELETE with in (nil: no body) as JSON and
// decodes a 2xx answer's body into out (nil: ignored). Such a request is
// retried only when Graph refused it without acting (429, 503 and 504 with
// throttling); a transport failure is returned, as the request may have
// been carried out.
func (c *Client) Send(ctx context.Context, call Call, method, link string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("graph: %s %s: encode request: %w", method, call.Resource, err)
		}
	}
	_, err := c.do(ctx, call, request{method: method, link: link, body: body}, decoder{body: func(b []byte) error {
		if out == nil || len(b) == 0 {
			return nil
		}
		return json.Unmarshal(b, out)
	}})
	return err
}

// GetContent streams the body of a GET that serves content rather than
// JSON (an attachment's $value) to read as it arrives, never holding it
// whole. A body cut short is asked for again and handed to a new call of
// read, which must start over; an error of read's own ends the request.
func (c *Client) GetContent(ctx context.Context, call Call, link string, read func(io.Reader) error) error {
	_, err := c.do(ctx, call, request{method: http.MethodGet, link: link, accept: "*/*"}, decoder{stream: func(body io.Reader) error {
		r := &bodyReader{r: body}
		err := read(r)
		if err != nil && r.err == nil {
			return &readerError{err: err}
		}
		return err
	}})
	return err
}

// bodyReader remembers whether reading the body failed.
type bodyReader struct {
	r   io.Reader
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// readerError is a failure of the caller's reader, not of the body:
// asking Graph again would not help.
type readerError struct{ err error }

func (e *readerError) Error() string { return e.err.Error() }
func (e *readerError) Unwrap() error { return e.err }

// request is what do sends.
type request struct {
	method, link string
	body         []byte // JSON
	collection   bool   // a collection page: send the page size
	// cost, when set, is what the request takes from its scope's bucket
	// (a batch: one per request in it), and slots what it holds of the
	// scope's cap on requests in flight (default 1).
	cost, slots int
	// safe marks a POST that may be sent again (a batch of GETs).
	safe   bool
	accept string // default application/json
}

// idempotent reports whether a request may be sent again after a transport
// failure or a malformed answer.
func (r request) idempotent() bool { return r.method == http.MethodGet || r.safe }

// decoder reads a 2xx response: body takes it whole; stream, when set,
// takes it as it arrives instead (a salvaged page, which may exceed the
// body cap).
type decoder struct {
	body   func([]byte) error
	stream func(io.Reader) error
}

// do sends a request with throttling and retries, and hands a 2xx body to
// dec. A decode error of a GET is treated like a truncated body and
// retried; a page still invalid after the retries, or over the body cap,
// comes back as an *UnreadablePageError.
func (c *Client) do(ctx context.Context, call Call, rq request, dec decoder) (string, error) {
	method, collection := rq.method, rq.collection
	u, err := c.resolve(rq.link)
	if err != nil {
		return "", fmt.Errorf("graph: %s %s: %w", method, call.Resource, err)
	}
	// OneDrive carries its delta token in the path: delta(token='...').
	path := redact.Link(u.Path)
	res := resourceLabel(call.Resource)
	pageSize := c.pageSize(call, collection)

	key, limited := scopeOf(call)
	var g *gate
	if limited {
		g = c.gates.get(key)
		defer c.gates.put(g)
	}
	onBlocked := func(d time.Duration) *Error {
		retryAfterSeconds.WithLabelValues(res).Add(d.Seconds())
		return &Error{
			Status:     http.StatusTooManyRequests,
			Message:    "a Retry-After window for this " + scopeNoun(key) + " is still open",
			RetryAfter: d,
			method:     method,
			path:       path,
		}
	}
	unreadable := func(requestID string, size int64, err error) *UnreadablePageError {
		return &UnreadablePageError{PageSize: pageSize, Shrinkable: collection && honoursPageSize(call.Service),
			Size: size, RequestID: requestID, Err: err, method: method, path: path}
	}

	for attempt := 0; ; attempt++ {
		req, err := c.newRequest(ctx, call, u, rq, pageSize)
		if err != nil {
			return "", fmt.Errorf("graph: %s %s: %w", method, path, err)
		}
		n := rq.cost
		if n == 0 {
			n = cost(call, req)
		}
		held, err := c.gates.acquire(ctx, g, n, max(1, rq.slots), c.cfg.MaxInlineWait, onBlocked)
		if err != nil {
			var ge *Error
			if errors.As(err, &ge) {
				return "", ge
			}
			return "", fmt.Errorf("graph: %s %s: wait for throttling: %w", method, path, err)
		}
		start := time.Now()
		resp, body, derr, err := c.roundTrip(req, dec.stream)
		elapsed := time.Since(start)
		// Open the Retry-After window before giving the slot back, so that
		// no queued request to the same scope leaves in between.
		var ra time.Duration
		var given, blocked bool
		if err == nil && isRetryStatus(resp.StatusCode) {
			ra, given = parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
			if !given {
				ra = c.backoff(attempt)
			}
			// Throttled requests count against the limit, so nobody in
			// this process may send to the scope until the window passes.
			blocked = g != nil && (resp.StatusCode == http.StatusTooManyRequests || given)
			if blocked {
				c.gates.block(key, c.now().Add(ra))
			}
		}
		if g != nil && resp != nil {
			g.adapt.observe(resp.StatusCode, resp.Header, c.now())
		}
		g.release(held)
		requestDuration.WithLabelValues(res, method).Observe(elapsed.Seconds())

		var requestID string
		status := 0
		if resp != nil {
			status = resp.StatusCode
			requestID = resp.Header.Get("request-id")
		}
		requestsTotal.WithLabelValues(res, method, statusClass(status, err)).Inc()
		c.cfg.Logger.DebugContext(ctx, "graph request",
			"resource", res, "method", method, "path", path, "status", status,
			"request_id", requestID, "duration", elapsed, "attempt", attempt)

		var tooLarge *tooLargeError
		var redirect *origin.RedirectError
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return "", fmt.Errorf("graph: %s %s: %w", method, path, ctx.Err())
		case errors.As(err, &tooLarge) && collection:
			// The same page would be as large again: no retry.
			return "", unreadable(requestID, tooLarge.size, err)
		case errors.As(err, &tooLarge), errors.As(err, &redirect):
			return "", fmt.Errorf("graph: %s %s: %w", method, path, err)
		case attempt >= c.cfg.MaxRetries || !rq.idempotent():
			// A write may have been carried out: never sent twice.
			return "", fmt.Errorf("graph: %s %s: %w", method, path, err)
		default:
			retriesTotal.WithLabelValues(res, transportReason(err)).Inc()
			if err := sleep(ctx, c.backoff(attempt)); err != nil {
				return "", fmt.Errorf("graph: %s %s: %w", method, path, err)
			}
			continue
		}

		switch s := resp.StatusCode; {
		case s >= 200 && s < 300:
			if dec.stream == nil {
				derr = dec.body(body)
			}
			if derr == nil {
				return requestID, nil
			}
			var perr *pageError
			var rerr *readerError
			switch {
			case errors.As(derr, &perr), errors.As(derr, &rerr):
				return "", fmt.Errorf("graph: %s %s: decode response (request-id %s): %w", method, path, requestID, derr)
			case attempt >= c.cfg.MaxRetries && collection:
				return "", unreadable(requestID, int64(len(body)), derr)
			case attempt >= c.cfg.MaxRetries || !rq.idempotent():
				return "", fmt.Errorf("graph: %s %s: decode response (request-id %s): %w", method, path, requestID, derr)
			}
			retriesTotal.WithLabelValues(res, "malformed").Inc()
			if err := sleep(ctx, c.backoff(attempt)); err != nil {
				return "", fmt.Errorf("graph: %s %s: %w", method, path, err)
			}

		case isRetryStatus(s):
			e := newError(method, path, resp, body)
			e.RetryAfter = ra
			if s == http.StatusTooManyRequests || s == http.StatusServiceUnavailable {
				throttledTotal.WithLabelValues(res, strconv.Itoa(s)).Inc()
			}
			retryAfterSeconds.WithLabelValues(res).Add(ra.Seconds())
			if attempt >= c.cfg.MaxRetries || ra > c.cfg.MaxInlineWait {
				return "", e
			}
			retriesTotal.WithLabelValues(res, retryReason(s)).Inc()
			if !blocked {
				if err := sleep(ctx, ra); err != nil {
					return "", fmt.Errorf("graph: %s %s: %w", method, path, err)
				}
			}

		default:
			return "", newError(method, path, resp, body)
		}
	}
}

// resolve turns a link into a URL. Absolute links (nextLink, deltaLink,
// Location) are followed verbatim but only as CheckLink allows, so a
// stored or forged link cannot carry a bearer token elsewhere.
func (c *Client) resolve(link string) (*url.URL, error) {
	if link == "" {
		return nil, errors.New("empty link")
	}
	var raw string
	switch {
	case strings.HasPrefix(link, "https://") || strings.HasPrefix(link, "http://"):
		raw = link
	case strings.HasPrefix(link, "/v1.0/") || strings.HasPrefix(link, "/beta/"):
		raw = strings.TrimRight(c.cfg.BaseURL, "/") + link
	case strings.HasPrefix(link, "/"):
		raw = c.version + link
	default:
		raw = c.version + "/" + link
	}
	return c.checkURL(raw)
}

// pageSize is the odata.maxpagesize a request asks for, 0 for none.
func (c *Client) pageSize(call Call, collection bool) int {
	if !collection || !honoursPageSize(call.Service) {
		return 0
	}
	if call.PageSize > 0 {
		return call.PageSize
	}
	return c.cfg.MaxPageSize
}

// honoursPageSize reports whether a service's collections honour
// Prefer: odata.maxpagesize; only Outlook's do.
func honoursPageSize(s graphsync.Service) bool { return s == graphsync.Outlook }

func (c *Client) newRequest(ctx context.Context, call Call, u *url.URL, rq request, pageSize int) (*http.Request, error) {
	var body io.Reader
	if rq.body != nil {
		body = bytes.NewReader(rq.body)
	}
	req, err := http.NewRequestWithContext(ctx, rq.method, u.String(), body)
	if err != nil {
		return nil, err
	}
	h := req.Header
	if rq.body != nil {
		h.Set("Content-Type", "application/json")
	}
	for k, v := range call.Headers {
		switch {
		case strings.EqualFold(k, "Prefer"), strings.EqualFold(k, "Authorization"), strings.EqualFold(k, "client-request-id"):
			// Ours to set.
		default:
			h.Set(k, v)
		}
	}
	if p := c.prefer(call, pageSize); p != "" {
		h.Set("Prefer", p)
	}
	h.Set("Authorization", "Bearer "+call.Token)
	h.Set("Accept", cmp.Or(rq.accept, "application/json"))
	h.Set("client-request-id", newRequestID())
	return req, nil
}

// prefer is the Prefer header of a request of call: the page size, the
// immutable ids, and the caller's preferences, in one header.
func (c *Client) prefer(call Call, pageSize int) string {
	var prefer []string
	if pageSize > 0 {
		prefer = append(prefer, "odata.maxpagesize="+strconv.Itoa(pageSize))
	}
	if call.ImmutableIDs {
		prefer = append(prefer, `IdType="ImmutableId"`)
	}
	for k, v := range call.Headers {
		if strings.EqualFold(k, "Prefer") {
			prefer = append(prefer, v)
		}
	}
	return strings.Join(prefer, ", ")
}

// roundTrip sends req and reads the whole body, so that a body cut short
// surfaces here as an error to retry instead of as a half-decoded page. With
// stream set, a 2xx body goes to stream as it arrives instead, and stream's
// error comes back as derr.
func (c *Client) roundTrip(req *http.Request, stream func(io.Reader) error) (resp *http.Response, body []byte, derr, err error) {
	resp, err = c.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, nil, nil, redact.URLError(err)
	}
	defer resp.Body.Close()
	if stream != nil && resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil, stream(resp.Body), nil
	}
	if resp.ContentLength > maxBodyBytes {
		// Not worth reading: it would be refused whole.
		return resp, nil, nil, &tooLargeError{size: resp.ContentLength}
	}
	body, err = readBody(resp.Body, resp.ContentLength)
	if err != nil {
		return resp, nil, nil, fmt.Errorf("read body: %w", err)
	}
	if len(body) > maxBodyBytes {
		return resp, nil, nil, &tooLargeError{size: -1}
	}
	return resp, body, nil, nil
}

// tooLargeError is a body over maxBodyBytes.
type tooLargeError struct{ size int64 } // -1 when unknown

func (e *tooLargeError) Error() string {
	if e.size < 0 {
		return fmt.Sprintf("body larger than the %d MiB a response may have", maxBodyBytes>>20)
	}
	return fmt.Sprintf("body of %d bytes, larger than the %d MiB a response may have", e.size, maxBodyBytes>>20)
}

// readBody reads a body of the announced size into one buffer: io.ReadAll
// grows from 512 bytes by doubling, clearing and copying multi-megabyte
// pages again and again. Unknown or excessive sizes take the general path.
func readBody(r io.Reader, size int64) ([]byte, error) {
	if size < 0 || size > maxBodyBytes {
		return io.ReadAll(io.LimitReader(r, maxBodyBytes+1))
	}
	buf := make([]byte, size)
	if n, err := io.ReadFull(r, buf); err != nil {
		return buf[:n], err // io.ErrUnexpectedEOF for a body cut short
	}
	// More than announced is read on, as io.ReadAll would.
	rest, err := io.ReadAll(io.LimitReader(r, maxBodyBytes+1-size))
	if len(rest) > 0 {
		buf = append(buf, rest...)
	}
	return buf, err
}

// backoff is exponential with full jitter, so that workers throttled
// together do not come back together.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.backoffBase << min(attempt, 20)
	if d <= 0 || d > c.backoffMax {
		d = c.backoffMax
	}
	return time.Duration(mathrand.Int64N(int64(d) + 1))
}

// parseRetryAfter reads delay-seconds or an HTTP date. The Graph SDKs accept
// fractional seconds too.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs < 0 || secs > 86400*7 {
			return 0, false
		}
		return time.Duration(secs * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

func statusClass(status int, err error) string {
	switch {
	case err != nil || status == 0:
		return "error"
	case status == http.StatusTooManyRequests:
		return "429"
	case status < 300:
		return "2xx"
	case status < 500:
		return "4xx"
	default:
		return "5xx"
	}
}

// isRetryStatus reports the statuses worth sending again: throttling (429),
// and the transient server errors Graph documents (500, 502, 503, 504).
func isRetryStatus(s int) bool {
	switch s {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

func retryReason(status int) string {
	switch status {
	case http.StatusTooManyRequests:
		return "throttled"
	case http.StatusServiceUnavailable:
		return "unavailable"
	case http.StatusInternalServerError:
		return "server_error"
	case http.StatusBadGateway:
		return "bad_gateway"
	default:
		return "gateway_timeout"
	}
}

func transportReason(err error) string {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated"
	default:
		return "network"
	}
}

var resourceLabels = map[string]bool{
	"mail": true, "calendar": true, "drive": true, "chats": true, "people": true,
	"contacts": true, "users": true, "me": true, "batch": true, "mailfolders": true, "contactfolders": true, "subscriptions": true, "proxy": true,
}

// resourceLabel keeps the metric label set bounded whatever callers pass.
func resourceLabel(r string) string {
	if resourceLabels[r] {
		return r
	}
	return "other"
}

func scopeNoun(k graphsync.Scope) string {
	if k.IsMailbox() {
		return "mailbox"
	}
	return k.Service.String() + " tenant"
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), sub)
}
