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
	end = healthy(end, 10, time.Second)
	if g, _ := a.state(); math.Abs(g-(f+10*probePerSecond)) > 1e-9 {
		t.Fatalf("after probing 10s factor %g, want %g", g, f+10*probePerSecond)
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
	// sent 20/s for 5s, then got a 429 with 5s left in the window.
	a := newAdapt(16.7, 4, "outlook", false)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 100 {
		a.took(1, true, now.Add(time.Duration(i)*50*time.Millisecond))
	}
	h := http.Header{}
	h.Set("Retry-After", "5")
	a.observe(http.StatusTooManyRequests, h, now.Add(5*time.Second))
	// 100 units over 5s sent and 5s to wait: 10/s.
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
	// 40s later it has only just passed the ceiling.
	for range 40 {
		at = at.Add(time.Second)
		a.took(1, true, at)
		a.observe(http.StatusOK, http.Header{}, at)
	}
	if r := a.rate(16.7, at); r < 10 || r > 10.5 {
		t.Fatalf("rate 40s on %g, want just past the 10/s ceiling", r)
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
	for _, b := range []Budget{{20, time.Second}, {1200, time.Minute}, {6, time.Second}, {24, time.Minute}, {2, time.Second}} {
		rate, burst, lease := b.bucket()
		if rate <= 0 || burst < 1 {
			t.Fatalf("%+v: rate %g, burst %g", b, rate, burst)
		}
		// What a window of Per can see spent: the burst, and what was
		// refilled over the window and the lease before it.
		if most := burst + rate*(b.Per+lease).Seconds(); most > b.Units+1e-9 {
			t.Fatalf("%+v: up to %g units in a window", b, most)
		}
		if b.Units >= 20 && rate*b.Per.Seconds() < 0.8*b.Units {
			t.Fatalf("%+v: rate %g uses less than 80%% of the budget", b, rate)
		}
	}
}

func TestRequestCosts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		link string
		want int
	}{
		{"/users/u/drive/root/delta", 2},
		{"/users/u/drive/root/delta?token=abc", 1},
		{"/drives/d/root/delta(token='abc')", 1},
		{"/drives/d/items/i/children", 2},
		{"/drives/d/items/i/permissions", 5},
		{"/drives/d/items/i?$expand=permissions", 5},
		{"/drives/d/items/i", 1},
	} {
		u, _ := url.Parse("https://graph.microsoft.com/v1.0" + tc.link)
		if got := cost(Call{Service: graphsync.OneDrive}, &http.Request{URL: u}); got != tc.want {
			t.Errorf("cost of %s = %d, want %d", tc.link, got, tc.want)
		}
	}
	for _, tc := range []struct {
		link string
		want int
	}{
		{"/users", 2},
		{"/users?$select=id,displayName", 1},
		{"/users?$select=id&$top=10", 1},
		{"/groups?$expand=members", 3},
		{"/users/delta?$deltatoken=x", 1},
		{"/users/u", 1},
	} {
		u, _ := url.Parse("https://graph.microsoft.com/v1.0" + tc.link)
		if got := cost(Call{Service: graphsync.Directory}, &http.Request{URL: u}); got != tc.want {
			t.Errorf("directory cost of %s = %d, want %d", tc.link, got, tc.want)
		}
	}
	u, _ := url.Parse("https://graph.microsoft.com/v1.0/users/u/chats")
	if got := cost(Call{Service: graphsync.Teams}, &http.Request{URL: u}); got != 1 {
		t.Errorf("cost of a Teams request = %d, want 1", got)
	}
}
