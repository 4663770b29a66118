package graph

import (
	"math"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/graphsync/graphsync/graphsync"
)

func TestAdaptCutsOnThrottlingAndGrowsBack(t *testing.T) {
	t.Parallel()
	a := newAdapt(0, 4, "outlook", false)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a.observe(http.StatusTooManyRequests, http.Header{}, now)
	// A burst of 429s to requests already in flight cuts once.
	a.observe(http.StatusTooManyRequests, http.Header{}, now.Add(10*time.Millisecond))
	a.observe(http.StatusServiceUnavailable, http.Header{}, now.Add(20*time.Millisecond))
	if f, c := a.state(); f != 0.5 || c != 2 {
		t.Fatalf("after a burst of 429s factor %g, concurrency %d; want 0.5 and 2", f, c)
	}
	if r := a.rate(10, now); r != 5 {
		t.Fatalf("rate %g of 10, want 5", r)
	}
	// Healthy answers while nobody waits for the gate teach it nothing.
	for i := 1; i <= 20; i++ {
		a.observe(http.StatusOK, http.Header{}, now.Add(time.Duration(i)*250*time.Millisecond))
	}
	if f, c := a.state(); f != 0.5 || c != 2 {
		t.Fatalf("after unsaturated health factor %g, concurrency %d; want 0.5 and 2", f, c)
	}
	// Saturated: back quickly to just under where Graph throttled it
	// (learned 1 here), then slowly beyond.
	healthy := func(from time.Time, n int, step time.Duration) time.Time {
		for i := 1; i <= n; i++ {
			a.took(1, true, from.Add(time.Duration(i)*step))
			a.observe(http.StatusOK, http.Header{}, from.Add(time.Duration(i)*step))
		}
		return from.Add(time.Duration(n) * step)
	}
	end := healthy(now.Add(5*time.Second), 8, 250*time.Millisecond)
	f, c := a.state()
	if f < settle || f > settle+0.002 || c != 4 {
		t.Fatalf("after 2s of saturated health factor %g, concurrency %d; want %g and 4", f, c, settle)
	}
	// Probing: at least probePerSecond, faster by that again every
	// probeDoubling since the cut (7.5s to 17.5s here).
	end = healthy(end, 10, time.Second)
	lo, hi := f+10*probePerSecond*(1+7.5/15), f+10*probePerSecond*(1+17.5/15)
	if g, _ := a.state(); g < lo || g > hi {
		t.Fatalf("after probing 10s factor %g, want between %g and %g", g, lo, hi)
	}
	healthy(end, 100, time.Second)
	if f, _ := a.state(); f != 1 {
		t.Fatalf("factor %g after long health, want it capped at 1", f)
	}
	// It never stops a gate altogether.
	for i := range 20 {
		a.observe(http.StatusTooManyRequests, http.Header{}, now.Add(time.Hour+time.Duration(i)*2*time.Second))
	}
	if f, c := a.state(); f < minFactor || c != 1 {
		t.Fatalf("after many 429s factor %g, concurrency %d; want at least %g and 1", f, c, minFactor)
	}
}

// A gate configured above the service's ceiling learns the ceiling from
// what it sent before the 429 and the Retry-After, and settles under it
// instead of halving and climbing back over it again and again.
func TestAdaptLearnsTheCeilingFromWhatItSent(t *testing.T) {
	t.Parallel()
	// Configured for 16.7/s; Graph allows 100 per 10s window. The gate
	// sent 100 in 5.5s, then got a 429 with 4.5s left in the window:
	// Retry-After 5, whole seconds rounded up.
	a := newAdapt(16.7, 4, "outlook", false)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 100 {
		a.took(1, true, now.Add(time.Duration(i)*55*time.Millisecond))
	}
	h := http.Header{}
	h.Set("Retry-After", "5")
	a.observe(http.StatusTooManyRequests, h, now.Add(5500*time.Millisecond))
	// 100 units over 5.5s sent and 4.5s to wait on average: 10/s.
	if r := a.rate(16.7, now); math.Abs(r-5) > 0.01 {
		t.Fatalf("rate after the cut %g, want half the learned 10/s", r)
	}
	at := now.Add(10 * time.Second)
	for range 40 {
		at = at.Add(100 * time.Millisecond)
		a.took(1, true, at)
		a.observe(http.StatusOK, http.Header{}, at)
	}
	if r := a.rate(16.7, at); r < 9.5 || r > 9.6 {
		t.Fatalf("rate 4s after the cut %g, want 9.5/s, just under the ceiling", r)
	}
	// Its bucket's burst is cut to half a second's worth: a full bucket
	// at the start of Graph's window would overfill it.
	if b := a.burst(50, 9.5); b != 5 {
		t.Fatalf("burst %d at 9.5/s, want 5", b)
	}
	// It probes the ceiling again after 20 to 35s: Graph throttles it
	// about twice a minute.
	probe := func(n int) float64 {
		for range n {
			at = at.Add(time.Second)
			a.took(1, true, at)
			a.observe(http.StatusOK, http.Header{}, at)
		}
		return a.rate(16.7, at)
	}
	if r := probe(16); r >= 10 {
		t.Fatalf("rate 20s after the cut %g, want still under the 10/s ceiling", r)
	}
	if r := probe(15); r < 10 || r > 10.6 {
		t.Fatalf("rate 35s after the cut %g, want just past the 10/s ceiling", r)
	}
	// A gate that never was throttled keeps its configured burst.
	if b := newAdapt(16.7, 4, "outlook", false).burst(50, 16.7); b != 50 {
		t.Fatalf("burst %d of a gate never throttled, want 50", b)
	}
	// Fixed gates learn nothing.
	fx := newAdapt(16.7, 4, "outlook", true)
	fx.took(1, true, now)
	fx.observe(http.StatusTooManyRequests, h, now)
	if f, c := fx.state(); f != 1 || c != 4 {
		t.Fatalf("fixed gate moved to factor %g, concurrency %d", f, c)
	}
}

func TestAdaptSlowsBeforeTheCeiling(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// SharePoint: 200 of 1,200 units left for 20 more seconds.
	a := newAdapt(0, 0, "onedrive", false)
	h := http.Header{}
	h.Set("RateLimit-Limit", "1200")
	h.Set("RateLimit-Remaining", "200")
	h.Set("RateLimit-Reset", "20")
	a.observe(http.StatusOK, h, now)
	if r := a.rate(20, now.Add(time.Second)); r != 10 {
		t.Fatalf("rate %g with 200 units left for 20s, want 10", r)
	}
	if r := a.rate(20, now.Add(21*time.Second)); r != 20 {
		t.Fatalf("rate %g after the window reset, want the configured 20", r)
	}
	// The directory: past 80% of its budget.
	d := newAdapt(0, 0, "onedrive", false)
	h = http.Header{}
	h.Set("x-ms-throttle-limit-percentage", "0.85")
	d.observe(http.StatusOK, h, now)
	if f, _ := d.state(); f != nearCut {
		t.Fatalf("factor %g after the directory reported 85%% used, want %g", f, nearCut)
	}
	// Malformed headers are ignored.
	e := newAdapt(0, 0, "onedrive", false)
	h = http.Header{}
	h.Set("RateLimit-Limit", "lots")
	h.Set("RateLimit-Remaining", "-1")
	h.Set("RateLimit-Reset", "soon")
	h.Set("x-ms-throttle-limit-percentage", "high")
	e.observe(http.StatusOK, h, now)
	if r := e.rate(20, now); r != 20 {
		t.Fatalf("rate %g after unreadable headers, want the configured 20", r)
	}
}

func TestBudgetBucketNeverExceedsItsWindow(t *testing.T) {
	t.Parallel()
	for _, b := range []Budget{{20, time.Second, 1}, {1200, time.Minute, 5}, {6, time.Second, 1}, {24, time.Minute, 5}, {2, time.Second, 1}} {
		rate, burst, lease := b.bucket()
		if rate <= 0 || burst < 1 {
			t.Fatalf("%+v: rate %g, burst %g", b, rate, burst)
		}
		// What a window of Per can see spent: the burst, and what was
		// refilled over the window and the lease before it.
		if most := burst + rate*(b.Per+lease).Seconds(); most > b.Units+1e-9 {
			t.Fatalf("%+v: up to %g units in a window", b, most)
		}
		// A budget only a few of its costliest requests wide gives up a
		// burst of one of them.
		if b.Units >= 20*b.MaxCost && rate*b.Per.Seconds() < 0.8*b.Units {
			t.Fatalf("%+v: rate %g uses less than 80%% of the budget", b, rate)
		}
	}
}

func TestRequestCosts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		svc  graphsync.Service
		link string
		want int
	}{
		{graphsync.OneDrive, "/users/u/drive/root/delta", 2},
		{graphsync.OneDrive, "/users/u/drive/root/delta?token=abc", 1},
		{graphsync.OneDrive, "/drives/d/root/delta(token='abc')", 1},
		{graphsync.OneDrive, "/drives/d/items/i/children", 2},
		{graphsync.OneDrive, "/drives/d/items/i/permissions", 5},
		{graphsync.OneDrive, "/drives/d/items/i?$expand=permissions", 5},
		{graphsync.OneDrive, "/drives/d/items/i", 1},
		{graphsync.Directory, "/users", 2},
		{graphsync.Directory, "/users?$select=id,displayName", 1},
		{graphsync.Directory, "/users?$select=id&$top=10", 1},
		{graphsync.Directory, "/groups?$expand=members", 3},
		{graphsync.Directory, "/users/delta?$deltatoken=x", 1},
		{graphsync.Directory, "/users/u", 1},
		{graphsync.Teams, "/users/u/chats", 1},
	} {
		u, _ := url.Parse("https://graph.microsoft.com/v1.0" + tc.link)
		if got := cost(Call{Service: tc.svc}, &http.Request{URL: u}); got != tc.want {
			t.Errorf("%s cost of %s = %d, want %d", tc.svc, tc.link, got, tc.want)
		}
	}
}

func TestGateStatesShowTheSlowedGates(t *testing.T) {
	t.Parallel()
	c, err := NewClient(Config{BaseURL: "https://graph.example"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return now }
	quiet := graphsync.Scope{Tenant: "t", Service: graphsync.Outlook, Mailbox: "quiet"}
	hot := graphsync.Scope{Tenant: "t", Service: graphsync.Outlook, Mailbox: "hot"}
	teams := graphsync.Scope{Tenant: "t", Service: graphsync.Teams}
	for _, s := range []graphsync.Scope{quiet, hot, teams} {
		c.gates.put(c.gates.get(s))
	}
	g := c.gates.get(hot)
	h := http.Header{}
	h.Set("Retry-After", "5")
	g.adapt.observe(http.StatusTooManyRequests, h, now)
	c.gates.put(g)
	c.gates.block(hot, now.Add(5*time.Second))

	got := c.GateStates(10)
	if len(got) != 2 || got[0].Scope != teams || got[1].Scope != hot {
		t.Fatalf("gates %+v, want the tenant's Teams gate and the throttled mailbox's, not the quiet one", got)
	}
	m := got[1]
	if !m.Slowed() || m.Rate != m.ConfiguredRate/2 || m.Concurrency != 2 || m.MaxConcurrency != 4 || m.Throttles != 1 ||
		!m.BlockedUntil.Equal(now.Add(5*time.Second)) || m.LearnedRate != m.ConfiguredRate {
		t.Fatalf("throttled mailbox gate %+v", m)
	}
	if got[0].Slowed() || got[0].Rate == 0 {
		t.Fatalf("Teams gate %+v, want its configured rate", got[0])
	}
	if got := c.GateStates(1); len(got) != 1 {
		t.Fatalf("%d gates with a limit of 1", len(got))
	}
}
