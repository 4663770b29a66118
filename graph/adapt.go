package graph

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// adapt is a gate's share of its configured rate and concurrency, moved by
// what Graph answers: additive increase while answers are healthy,
// multiplicative decrease on 429 and 503, and a ceiling from the rate-limit
// headers the service sends as its budget runs low, so that the gate slows
// down before Graph has to throttle it.
//
// Which service sends which header (checked against Microsoft's pages):
// SharePoint and OneDrive send RateLimit-Limit, RateLimit-Remaining and
// RateLimit-Reset (resource units of the app's one-minute budget) once 80%
// of it is used; the directory sends x-ms-throttle-limit-percentage (0.8 to
// 1.8 of its budget) once past 80%. Outlook and Teams send none: there only
// 429s and 503s teach the gate.
type adapt struct {
	service string // metric label
	mu      sync.Mutex
	slowed  bool // counted in graphsync_graph_gates_slowed
	// factor is the share of the configured rate in use, in [minFactor, 1].
	factor float64
	// conc is the concurrency cap in use, in [1, maxConc]; maxConc 0 means
	// the gate has no cap.
	conc, maxConc float64
	// ceiling is the rate (units per second) the service's RateLimit
	// headers leave until ceilingUntil; 0 when none.
	ceiling      float64
	ceilingUntil time.Time
	lastCut      time.Time
	lastGrow     time.Time
}

const (
	// minFactor keeps a gate from stopping altogether.
	minFactor = 1.0 / 64
	// cutFactor is the multiplicative decrease on 429 or 503; a burst of
	// throttled answers to requests already in flight cuts once.
	cutFactor = 0.5
	cutEvery  = time.Second
	// growPerSecond is the additive increase of factor per second of
	// healthy answers: back from half to the configured rate in 10s.
	growPerSecond = 0.05
	// nearCut is the decrease when the directory says its budget is
	// more than 80% used: gentler than a 429's.
	nearCut = 0.9
)

func newAdapt(maxConc int, service string) *adapt {
	return &adapt{service: service, factor: 1, conc: float64(maxConc), maxConc: float64(maxConc)}
}

// observe moves the gate after an answer of status with header h.
func (a *adapt) observe(status int, h http.Header, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	defer a.count()
	if limit, remaining, reset, ok := rateLimitHeaders(h); ok && limit > 0 {
		// What is left of the window, spread over the rest of it.
		if !now.Before(a.ceilingUntil) {
			gateCutsTotal.WithLabelValues(a.service, "near_limit").Inc()
		}
		a.ceiling = max(remaining, 1) / reset.Seconds()
		a.ceilingUntil = now.Add(reset)
	}
	switch {
	case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable:
		if a.cut(cutFactor, now) {
			gateCutsTotal.WithLabelValues(a.service, "throttled").Inc()
		}
	case status >= 200 && status < 300:
		if p, ok := limitPercentage(h); ok && p >= 0.8 {
			if a.cut(nearCut, now) {
				gateCutsTotal.WithLabelValues(a.service, "near_limit").Inc()
			}
			return
		}
		if !a.lastGrow.IsZero() {
			dt := min(now.Sub(a.lastGrow), time.Second).Seconds()
			a.factor = min(1, a.factor+growPerSecond*dt)
		}
		a.lastGrow = now
		if a.maxConc > 0 {
			a.conc = min(a.maxConc, a.conc+1/a.conc)
		}
	}
}

// cut decreases the factor and cap by the factor by, and reports whether
// it did (once per cutEvery).
func (a *adapt) cut(by float64, now time.Time) bool {
	if now.Sub(a.lastCut) < cutEvery {
		return false
	}
	a.lastCut, a.lastGrow = now, now
	a.factor = max(minFactor, a.factor*by)
	if a.maxConc > 0 {
		a.conc = max(1, math.Floor(a.conc*by))
	}
	return true
}

// count keeps graphsync_graph_gates_slowed in step; a.mu is held.
func (a *adapt) count() {
	slowed := a.factor < 1 || a.conc < a.maxConc
	if slowed != a.slowed {
		a.slowed = slowed
		if slowed {
			gatesSlowed.WithLabelValues(a.service).Inc()
		} else {
			gatesSlowed.WithLabelValues(a.service).Dec()
		}
	}
}

// forget takes an evicted gate out of graphsync_graph_gates_slowed.
func (a *adapt) forget() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.slowed {
		a.slowed = false
		gatesSlowed.WithLabelValues(a.service).Dec()
	}
}

// rate is the rate to use now given the configured one.
func (a *adapt) rate(configured float64, now time.Time) float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	r := configured * a.factor
	if a.ceiling > 0 && now.Before(a.ceilingUntil) {
		r = min(r, a.ceiling)
	}
	return r
}

// state is the factor and concurrency cap in use (0: no cap).
func (a *adapt) state() (factor float64, conc int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.factor, int(a.conc)
}

// rateLimitHeaders reads SharePoint's RateLimit-Limit, -Remaining and
// -Reset (the IETF draft's, reset in seconds).
func rateLimitHeaders(h http.Header) (limit, remaining float64, reset time.Duration, ok bool) {
	l, err1 := strconv.ParseFloat(strings.TrimSpace(h.Get("RateLimit-Limit")), 64)
	r, err2 := strconv.ParseFloat(strings.TrimSpace(h.Get("RateLimit-Remaining")), 64)
	s, err3 := strconv.ParseFloat(strings.TrimSpace(h.Get("RateLimit-Reset")), 64)
	if err1 != nil || err2 != nil || err3 != nil || l < 0 || r < 0 || s <= 0 || s > 3600 {
		return 0, 0, 0, false
	}
	return l, r, time.Duration(s * float64(time.Second)), true
}

// limitPercentage reads the directory's x-ms-throttle-limit-percentage.
func limitPercentage(h http.Header) (float64, bool) {
	v := h.Get("x-ms-throttle-limit-percentage")
	if v == "" {
		return 0, false
	}
	p, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	return p, err == nil && p >= 0
}
