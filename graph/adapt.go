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
// what Graph answers: multiplicative decrease on 429 and 503, additive
// increase while answers are healthy and the gate is saturated, and a
// ceiling from the rate-limit headers the service sends as its budget runs
// low, so that the gate slows down before Graph has to throttle it.
//
// A gate remembers where Graph throttled it (the lower of the rate it was
// set to and the rate it actually sent at, spread over the Retry-After
// given): after a cut it climbs back quickly to just under that ceiling,
// then probes above it slowly, so that it runs close to the ceiling and
// meets it seldom. Each meeting costs the requests already in flight, all
// answered 429.
//
// Which service sends which header (checked against Microsoft's pages):
// SharePoint and OneDrive send RateLimit-Limit, RateLimit-Remaining and
// RateLimit-Reset (resource units of the app's one-minute budget) once 80%
// of it is used; the directory sends x-ms-throttle-limit-percentage (0.8 to
// 1.8 of its budget) once past 80%. Outlook and Teams send none: there only
// 429s and 503s teach the gate.
type adapt struct {
	service string  // metric label
	fixed   bool    // never moves (Config.FixedGates)
	base    float64 // configured rate in units per second; 0: none
	mu      sync.Mutex
	slowed  bool // counted in graphsync_graph_gates_slowed
	// factor is the share of the configured rate in use, in [minFactor, 1].
	factor float64
	// learned is the factor Graph last throttled the gate at; 0 before
	// any throttling, or once the gate has probed well past it.
	learned float64
	// conc is the concurrency cap in use, in [1, maxConc]; maxConc 0 means
	// the gate has no cap.
	conc, maxConc float64
	// ceiling is the rate (units per second) the service's RateLimit
	// headers leave until ceilingUntil; 0 when none.
	ceiling      float64
	ceilingUntil time.Time
	lastCut      time.Time
	lastGrow     time.Time
	// saturated: a request waited for the gate's tokens or slots since the
	// last growth. A gate that is not used to the full has nothing to learn
	// by growing.
	saturated bool
	sent      sentLog
	// resumeAt is when the last cut's Retry-After ended.
	resumeAt time.Time
	// throttles counts cuts on 429 or 503, for status.
	throttles int64
}

const (
	// minFactor keeps a gate from stopping altogether.
	minFactor = 1.0 / 64
	// cutFactor is the multiplicative decrease on 429 or 503; a burst of
	// throttled answers to requests already in flight cuts once.
	cutFactor = 0.5
	cutEvery  = time.Second
	// growPerSecond is the additive increase of factor per second of
	// healthy saturated answers while no ceiling is known: back from half
	// to the configured rate in 10s.
	growPerSecond = 0.05
	// Once Graph has throttled the gate at learned, it climbs back at
	// recoverPerSecond of learned to settle×learned (in about a second
	// from a cut), then probes at probePerSecond of learned, faster by
	// that again every probeDoubling: about 30s to reach the ceiling
	// again (Graph throttles it about twice a minute), 55s to pass it by
	// 10% (the ceiling learnt was low). Past forgetAbove×learned the ceiling has
	// moved and is forgotten.
	recoverPerSecond = 0.5
	settle           = 0.95
	probePerSecond   = 0.001
	probeDoubling    = 15 * time.Second
	forgetAbove      = 1.1
	// nearCut is the decrease when the directory says its budget is
	// more than 80% used: gentler than a 429's.
	nearCut = 0.9
	// burstSpan bounds the burst of a gate Graph has throttled: a full
	// bucket at the start of the service's window would otherwise add the
	// configured burst to a window already filled at the learned rate.
	burstSpan = 500 * time.Millisecond
)

func newAdapt(base float64, maxConc int, service string, fixed bool) *adapt {
	return &adapt{service: service, fixed: fixed, base: base, factor: 1, conc: float64(maxConc), maxConc: float64(maxConc)}
}

// observe moves the gate after an answer of status with header h.
func (a *adapt) observe(status int, h http.Header, now time.Time) {
	if a.fixed {
		return
	}
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
		if now.Sub(a.lastCut) < cutEvery {
			return
		}
		a.learn(h, now)
		a.cut(cutFactor, now)
		a.throttles++
		gateCutsTotal.WithLabelValues(a.service, "throttled").Inc()
	case status >= 200 && status < 300:
		if p, ok := limitPercentage(h); ok && p >= 0.8 {
			if now.Sub(a.lastCut) >= cutEvery {
				a.cut(nearCut, now)
				gateCutsTotal.WithLabelValues(a.service, "near_limit").Inc()
			}
			return
		}
		a.grow(now)
	}
}

// learn records the factor Graph throttled the gate at: the factor set, or
// less when the gate sent less. What it sent in the last measureSpan (or
// since it resumed after the previous cut, if later) is spread over that
// time and the Retry-After now given: Graph's window has let that much
// through in that time. It is never below half the factor set, lest a gate
// that idled most of the time learn a ceiling it never met.
func (a *adapt) learn(h http.Header, now time.Time) {
	f := a.factor
	wait, _ := parseRetryAfter(h.Get("Retry-After"), now)
	if units, span := a.sent.sum(now, a.resumeAt); a.base > 0 && span > 0 {
		// Retry-After is whole seconds rounded up: half a second less on
		// average, which matters against a span of 10.
		f = max(f*cutFactor, min(f, units/(span+max(0, wait-time.Second/2)).Seconds()/a.base))
	}
	a.learned = max(minFactor, f)
	a.resumeAt = now.Add(wait)
}

// grow is the increase after a healthy answer.
func (a *adapt) grow(now time.Time) {
	last := a.lastGrow
	a.lastGrow = now
	if !a.saturated {
		return
	}
	a.saturated = false
	if a.maxConc > 0 {
		a.conc = min(a.maxConc, a.conc+1/a.conc)
	}
	if last.IsZero() {
		return
	}
	dt := min(now.Sub(last), time.Second).Seconds()
	switch l := a.learned; {
	case l == 0:
		a.factor += growPerSecond * dt
	case a.factor < settle*l:
		a.factor = min(settle*l, a.factor+recoverPerSecond*l*dt)
	default:
		// Faster the longer Graph has not throttled: the ceiling learnt
		// may have been low.
		since := now.Sub(a.lastCut).Seconds()
		a.factor += probePerSecond * l * dt * (1 + since/probeDoubling.Seconds())
		if a.factor > forgetAbove*l {
			a.learned = 0
		}
	}
	a.factor = min(1, a.factor)
}

// cut decreases the factor and cap by the factor by, from the learned
// ceiling when it is lower.
func (a *adapt) cut(by float64, now time.Time) {
	a.lastCut, a.lastGrow = now, now
	f := a.factor
	if a.learned > 0 {
		f = min(f, a.learned)
	}
	a.factor = max(minFactor, f*by)
	if a.maxConc > 0 {
		a.conc = max(1, math.Floor(a.conc*by))
	}
}

// took records that a request of cost units left through the gate, and
// whether it had to wait for it.
func (a *adapt) took(cost float64, waited bool, now time.Time) {
	if a.fixed {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sent.add(cost, now)
	if waited {
		a.saturated = true
	}
}

// waited records that a request waited for the gate's slots.
func (a *adapt) waited() {
	a.mu.Lock()
	a.saturated = true
	a.mu.Unlock()
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

// burst is the bucket's burst given the configured one at rate r.
func (a *adapt) burst(configured int, r float64) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.learned == 0 {
		return configured
	}
	return max(1, min(configured, int(math.Ceil(r*burstSpan.Seconds()))))
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

// measureSpan is how far back a gate's sending is measured when Graph
// throttles it.
const measureSpan = 10 * time.Second

// sentLog counts units sent per second over the last measureSpan.
type sentLog struct {
	first time.Time
	secs  [10]int64
	units [10]float64
}

func (l *sentLog) add(cost float64, now time.Time) {
	if l.first.IsZero() {
		l.first = now
	}
	s := now.Unix()
	i := s % int64(len(l.secs))
	if l.secs[i] != s {
		l.secs[i], l.units[i] = s, 0
	}
	l.units[i] += cost
}

// sum is the units sent in the last measureSpan and after from, and the
// time they cover: at least a second, less than measureSpan for a gate
// younger than that or resumed since.
func (l *sentLog) sum(now, from time.Time) (float64, time.Duration) {
	if l.first.IsZero() {
		return 0, 0
	}
	if from.Before(l.first) {
		from = l.first
	}
	span := min(measureSpan, max(now.Sub(from), time.Second))
	s, lo := now.Unix(), now.Add(-span).Unix()
	var units float64
	for i, sec := range l.secs {
		if sec >= lo && sec <= s {
			units += l.units[i]
		}
	}
	return units, span
}
