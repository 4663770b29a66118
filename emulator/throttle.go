package emulator

import (
	"crypto/sha256"
	"encoding/json"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// throttler applies the per-service limits Microsoft documents. Windows are
// fixed (they reset whole), throttled requests count against them, and the
// Retry-After given is the time left in the window, rounded up.
type throttler struct {
	mu         sync.Mutex
	cfg        Throttle
	windows    map[string]*window
	inflight   map[string]int // app|mailbox, Outlook requests only
	retryUntil map[string]time.Time
	// windows opened per throttling scope (service|app|tenant, or
	// outlook|app|mailbox): when the Retry-After was given and when it ends.
	opened map[string][2]time.Time
	rng    *rand.Rand
}

type window struct {
	start time.Time
	used  int
}

func (t *throttler) init() {
	t.windows = map[string]*window{}
	t.inflight = map[string]int{}
	t.retryUntil = map[string]time.Time{}
	t.opened = map[string][2]time.Time{}
	t.rng = rand.New(rand.NewPCG(7, 11))
}

// SetThrottle replaces the throttling limits; windows restart.
func (em *Emulator) SetThrottle(th Throttle) {
	cfg := Config{Throttle: th}
	cfg.setDefaults()
	em.thr.mu.Lock()
	defer em.thr.mu.Unlock()
	em.thr.cfg = cfg.Throttle
	em.thr.windows = map[string]*window{}
}

// charge adds cost to the window at key and reports whether it stays
// within limit, the time left in the window, and the window's use so far.
func (t *throttler) charge(key string, now time.Time, span time.Duration, cost, limit int) (bool, time.Duration, int) {
	w := t.windows[key]
	if w == nil || now.Sub(w.start) >= span {
		w = &window{start: now}
		t.windows[key] = w
	}
	w.used += cost
	left := w.start.Add(span).Sub(now)
	return w.used <= limit, left, w.used
}

// requestCost is what a request counts for in its service's budget:
// SharePoint resource units for OneDrive and SharePoint (1 for a delta with
// a token or a single item, 2 for a delta without a token or a listing, 5
// for permissions), identity resource units for the
// directory (GET users 2, any other path 1; $select -1, $top under 20 -1,
// $expand +1; never below 1), and one request elsewhere.
// https://learn.microsoft.com/sharepoint/dev/general-development/how-to-avoid-getting-throttled-or-blocked-in-sharepoint-online
// https://learn.microsoft.com/graph/throttling-limits#identity-and-access-service-limits
func requestCost(c *call) int {
	switch c.svc {
	case svcDrive:
		switch r := c.route; {
		case strings.Contains(r, "/permissions"):
			return 5 // permission operations
		case strings.HasSuffix(r, "/delta"):
			if _, tok := tokenFromQuery(c); tok != "" {
				return 1
			}
			return 2
		case strings.HasSuffix(r, "/children"), strings.HasSuffix(r, "/drives"), r == "sites":
			return 2 // multi-item queries
		}
		return 1 // single-item queries
	case svcDirectory:
		cost := 1
		if c.route == "users" || c.route == "groups" {
			cost = 2
		}
		q := c.r.URL.Query()
		if _, ok := query(q, "select"); ok {
			cost--
		}
		if v, ok := query(q, "top"); ok {
			if n, err := strconv.Atoi(v); err == nil && n < 20 {
				cost--
			}
		}
		if _, ok := query(q, "expand"); ok {
			cost++
		}
		return max(cost, 1)
	}
	return 1
}

// admit records concurrency and applies limits. When it refuses, it has
// written the 429 (or 503) response.
func (t *throttler) admit(c *call) (release func(), ok bool) {
	em := c.em
	now := em.now()
	mailbox := "tenant"
	if c.user != nil {
		mailbox = c.user.id
	}
	app, tenant := c.tok.appid, c.tok.tid
	key := app + "|" + mailbox
	// Outlook limits a mailbox; Teams, OneDrive and the directory limit an
	// app in a tenant.
	scope := c.svc + "|" + app + "|" + tenant
	if c.svc == svcOutlook {
		scope = c.svc + "|" + app + "|" + mailbox
	}
	cost := requestCost(c)
	em.rates.record(c.svc, tenant, now, cost)
	t.mu.Lock()
	if until, ok := t.retryUntil[key]; ok && now.Before(until) {
		em.cnt.early(key)
	}
	if w, ok := t.opened[scope]; ok && now.Before(w[1]) && now.Sub(w[0]) > InFlightGrace {
		em.cnt.earlySent(scope)
	}
	// Only Outlook requests share the mailbox's concurrency limit; OneDrive
	// and Teams requests naming the same user do not.
	outlook := c.svc == svcOutlook
	if outlook {
		t.inflight[key]++
		em.cnt.enterOutlook(key, t.inflight[key])
	}
	em.cnt.enter(mailbox)
	release = func() {
		if outlook {
			t.mu.Lock()
			t.inflight[key]--
			t.mu.Unlock()
		}
		em.cnt.leave(mailbox)
	}
	cfg := t.cfg
	h := c.w.Header()
	var wait time.Duration
	code, msg := "", ""
	switch c.svc {
	case svcOutlook:
		if cfg.Outlook.Concurrent > 0 && t.inflight[key] > cfg.Outlook.Concurrent {
			code, msg, wait = "ApplicationThrottled", "Application is over its MailboxConcurrency limit.", time.Second
		}
		if cfg.Outlook.Requests > 0 {
			if ok, w, _ := t.charge("o|"+key, now, cfg.Outlook.Window, 1, cfg.Outlook.Requests); !ok && code == "" {
				code, msg, wait = "TooManyRequests", "Please retry again later.", w
			}
		}
	case svcTeams:
		if cfg.Teams.RequestsPerSecond > 0 {
			if ok, w, _ := t.charge("t|"+app+"|"+tenant, now, time.Second, 1, cfg.Teams.RequestsPerSecond); !ok {
				code, msg, wait = "TooManyRequests", "Please retry again later.", w
			}
		}
	case svcDrive:
		if limit := cfg.Drive.ResourceUnits; limit > 0 {
			ok, w, used := t.charge("d|"+app+"|"+tenant, now, cfg.Drive.Window, cost, limit)
			if !ok {
				code, msg, wait = "activityLimitReached", "The request has been throttled", w
			}
			// SharePoint sends the IETF draft RateLimit headers once an app
			// has used 80% of its window's resource units, to app-only
			// tokens only (devblogs.microsoft.com/microsoft365dev/prevent-throttling-in-your-application-by-using-ratelimit-headers-in-sharepoint-online).
			if c.tok.app && used*5 >= limit*4 {
				h.Set("RateLimit-Limit", strconv.Itoa(limit))
				h.Set("RateLimit-Remaining", strconv.Itoa(max(0, limit-used)))
				h.Set("RateLimit-Reset", strconv.Itoa(max(1, int(math.Ceil(w.Seconds())))))
			}
		}
	case svcDirectory:
		if limit := cfg.Directory.ResourceUnits; limit > 0 {
			ok, w, used := t.charge("i|"+app+"|"+tenant, now, cfg.Directory.Window, cost, limit)
			if !ok {
				code, msg, wait = "TooManyRequests", "Please retry again later.", w
				h.Set("x-ms-throttle-scope", "Tenant_Application/ReadWrite/"+app+"/"+tenant)
				h.Set("x-ms-throttle-information", "ResourceUnitLimitExceeded")
			} else if used*10 > limit*8 {
				// "Returned only when the application consumed more than
				// 0.8 of its limit. The value ranges from 0.8 to 1.8."
				h.Set("x-ms-throttle-limit-percentage", strconv.FormatFloat(min(float64(used)/float64(limit), 1.8), 'f', 2, 64))
			}
		}
		if code == "" {
			h.Set("x-ms-resource-unit", strconv.Itoa(cost))
		}
	}
	if code == "" {
		t.mu.Unlock()
		return release, true
	}
	secs := max(1, int(math.Ceil(wait.Seconds())))
	t.retryUntil[key] = now.Add(time.Duration(secs) * time.Second)
	t.opened[scope] = [2]time.Time{now, now.Add(time.Duration(secs) * time.Second)}
	unavailable := cfg.ServiceUnavailable > 0 && t.rng.Float64() < cfg.ServiceUnavailable
	t.mu.Unlock()
	release()
	h.Set("Retry-After", strconv.Itoa(secs))
	if unavailable {
		em.cnt.throttle(true)
		c.fail(http.StatusServiceUnavailable, "serviceNotAvailable", "The service is temporarily unavailable. Please retry after the time given in the Retry-After header.")
		return nil, false
	}
	em.cnt.throttle(false)
	if code == "TooManyRequests" {
		writeTooManyRequests(c)
		return nil, false
	}
	c.fail(http.StatusTooManyRequests, code, msg)
	return nil, false
}

// writeTooManyRequests writes the body Microsoft's throttling page shows.
func writeTooManyRequests(c *call) {
	c.w.Header().Set("Content-Type", "application/json")
	c.w.WriteHeader(http.StatusTooManyRequests)
	_ = json.NewEncoder(c.w).Encode(map[string]any{"error": map[string]any{
		"code": "TooManyRequests",
		"innerError": map[string]string{"code": "429", "date": c.em.now().UTC().Format("2006-01-02T15:04:05"),
			"message": "Please retry after", "request-id": c.reqID, "client-request-id": c.clientReqID, "status": "429"},
		"message": "Please retry again later.",
	}})
}

// Counters is a snapshot of what the emulator has served.
type Counters struct {
	// Requests counts Graph requests by route pattern and status, each
	// request inside a $batch on its own and the batch as route "$batch".
	Requests map[string]map[int]int64 `json:"requests"`
	// RoundTrips counts HTTP requests to Graph: a $batch is one, however
	// many requests it carries.
	RoundTrips int64 `json:"roundTrips"`
	// Throttled is the number of 429 responses sent by throttling.
	Throttled int64 `json:"throttled"`
	// ThrottledUnavailable is the number of 503s sent instead of 429.
	ThrottledUnavailable int64 `json:"throttledUnavailable"`
	// PeakConcurrency is the highest number of simultaneous Graph requests
	// seen per mailbox (user id; "tenant" for tenant-wide routes).
	PeakConcurrency map[string]int `json:"peakConcurrency"`
	// EarlyRetries counts requests that arrived before the Retry-After
	// given to that app and mailbox had elapsed; EarlyRetriesByKey splits
	// them by "appId|mailbox".
	EarlyRetries      int64            `json:"earlyRetries"`
	EarlyRetriesByKey map[string]int64 `json:"earlyRetriesByKey"`
	// Faults counts injected faults by kind.
	Faults map[string]int64 `json:"faults"`
	// PeakOutlook is the highest number of simultaneous Outlook requests
	// (mail, calendar, contacts, people) per "appId|mailbox", the scope of
	// Outlook's limit of 4 concurrent requests.
	PeakOutlook map[string]int `json:"peakOutlook"`
	// EarlySent counts requests that arrived inside an open Retry-After
	// window of their throttling scope ("service|appId|tenantId", or
	// "outlook|appId|mailbox") more than InFlightGrace after the window opened: sent
	// after the client could have read the Retry-After. Unlike
	// EarlyRetries it leaves out requests already on their way.
	EarlySent      int64            `json:"earlySent"`
	EarlySentByKey map[string]int64 `json:"earlySentByKey"`
	// PagesServed counts page requests (carrying a skip or delta token)
	// served in full; PagesRefetched those whose exact URL had been served
	// in full before; MaxFetchesPerPage the most any one URL was served.
	PagesServed       int64 `json:"pagesServed"`
	PagesRefetched    int64 `json:"pagesRefetched"`
	MaxFetchesPerPage int   `json:"maxFetchesPerPage"`
	// RefreshGrants lists per user id when Graph refresh_token grants were
	// redeemed; RefreshTokensReused counts redemptions of a refresh token
	// that had been redeemed before.
	RefreshGrants       map[string][]time.Time `json:"refreshGrants"`
	RefreshTokensReused int64                  `json:"refreshTokensReused"`
}

// InFlightGrace is how long after a Retry-After window opens requests are
// taken to have been sent before the client read it.
const InFlightGrace = 250 * time.Millisecond

type counters struct {
	mu       sync.Mutex
	c        Counters
	in       map[string]int
	pages    map[[16]byte]int
	redeemed map[[32]byte]bool
}

func (k *counters) init() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.c = Counters{Requests: map[string]map[int]int64{}, PeakConcurrency: map[string]int{},
		EarlyRetriesByKey: map[string]int64{}, Faults: map[string]int64{}, PeakOutlook: map[string]int{},
		EarlySentByKey: map[string]int64{}, RefreshGrants: map[string][]time.Time{}}
	k.in = map[string]int{}
	k.pages = map[[16]byte]int{}
	k.redeemed = map[[32]byte]bool{}
}

func (k *counters) enterOutlook(key string, n int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.c.PeakOutlook[key] = max(k.c.PeakOutlook[key], n)
}

func (k *counters) earlySent(scope string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.c.EarlySent++
	k.c.EarlySentByKey[scope]++
}

// page records a page served in full; link is its path and query.
func (k *counters) page(link string) {
	sum := sha256.Sum256([]byte(link))
	var h [16]byte
	copy(h[:], sum[:16])
	k.mu.Lock()
	defer k.mu.Unlock()
	k.pages[h]++
	n := k.pages[h]
	k.c.PagesServed++
	if n > 1 {
		k.c.PagesRefetched++
	}
	k.c.MaxFetchesPerPage = max(k.c.MaxFetchesPerPage, n)
}

func (k *counters) refreshGrant(user, refreshToken string, at time.Time) {
	h := sha256.Sum256([]byte(refreshToken))
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.redeemed[h] {
		k.c.RefreshTokensReused++
	}
	k.redeemed[h] = true
	k.c.RefreshGrants[user] = append(k.c.RefreshGrants[user], at)
}

// pageLink reports whether a request continues a paged or delta round: it
// carries a skip or delta token, the requests a sync checkpoints.
func pageLink(r *http.Request) bool {
	if strings.Contains(r.URL.Path, "(token=") {
		return true
	}
	q := strings.ToLower(r.URL.RawQuery)
	return strings.Contains(q, "skiptoken=") || strings.Contains(q, "deltatoken=") || strings.HasPrefix(q, "token=") || strings.Contains(q, "&token=")
}

// roundTrip counts one HTTP request to Graph.
func (k *counters) roundTrip() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.c.RoundTrips++
}

func (k *counters) request(route string, status int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	m := k.c.Requests[route]
	if m == nil {
		m = map[int]int64{}
		k.c.Requests[route] = m
	}
	m[status]++
}

func (k *counters) enter(mailbox string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.in[mailbox]++
	k.c.PeakConcurrency[mailbox] = max(k.c.PeakConcurrency[mailbox], k.in[mailbox])
}

func (k *counters) leave(mailbox string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.in[mailbox]--
}

func (k *counters) early(key string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.c.EarlyRetries++
	k.c.EarlyRetriesByKey[key]++
}

func (k *counters) throttle(unavailable bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if unavailable {
		k.c.ThrottledUnavailable++
	} else {
		k.c.Throttled++
	}
}

func (k *counters) fault(kind string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.c.Faults[kind]++
}

// Counters returns a deep copy of the counters.
func (em *Emulator) Counters() Counters {
	k := &em.cnt
	k.mu.Lock()
	defer k.mu.Unlock()
	out := Counters{Requests: map[string]map[int]int64{}, Throttled: k.c.Throttled, ThrottledUnavailable: k.c.ThrottledUnavailable,
		PeakConcurrency: map[string]int{}, EarlyRetries: k.c.EarlyRetries, EarlyRetriesByKey: map[string]int64{}, Faults: map[string]int64{}}
	for r, m := range k.c.Requests {
		out.Requests[r] = map[int]int64{}
		for s, n := range m {
			out.Requests[r][s] = n
		}
	}
	for m, n := range k.c.PeakConcurrency {
		out.PeakConcurrency[m] = n
	}
	for m, n := range k.c.EarlyRetriesByKey {
		out.EarlyRetriesByKey[m] = n
	}
	for m, n := range k.c.Faults {
		out.Faults[m] = n
	}
	out.PeakOutlook = maps.Clone(k.c.PeakOutlook)
	out.EarlySent, out.EarlySentByKey = k.c.EarlySent, maps.Clone(k.c.EarlySentByKey)
	out.PagesServed, out.PagesRefetched, out.MaxFetchesPerPage = k.c.PagesServed, k.c.PagesRefetched, k.c.MaxFetchesPerPage
	out.RefreshGrants = map[string][]time.Time{}
	for u, ts := range k.c.RefreshGrants {
		out.RefreshGrants[u] = slices.Clone(ts)
	}
	out.RefreshTokensReused = k.c.RefreshTokensReused
	out.RoundTrips = k.c.RoundTrips
	return out
}

// ResetCounters zeroes the counters and the request-rate log (concurrency
// in flight is kept).
func (em *Emulator) ResetCounters() {
	em.rates.reset()
	k := &em.cnt
	k.mu.Lock()
	in := k.in
	k.mu.Unlock()
	k.init()
	k.mu.Lock()
	k.in = in
	k.mu.Unlock()
}
