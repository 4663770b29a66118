package graph

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/graphsync/graphsync/graphsync"
)

func TestAdaptCutsOnThrottlingAndGrowsBack(t *testing.T) {
	t.Parallel()
	a := newAdapt(4, "outlook")
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
	// Healthy answers grow it back additively: 0.05 a second.
	for i := 1; i <= 20; i++ {
		a.observe(http.StatusOK, http.Header{}, now.Add(time.Duration(i)*250*time.Millisecond))
	}
	f, c := a.state()
	if f < 0.74 || f > 0.76 || c != 4 {
		t.Fatalf("after 5s of healthy answers factor %g, concurrency %d; want 0.75 and 4", f, c)
	}
	for i := range 100 {
		a.observe(http.StatusOK, http.Header{}, now.Add(11*time.Second+time.Duration(i)*time.Second))
	}
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

func TestAdaptSlowsBeforeTheCeiling(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// SharePoint: 200 of 1,200 units left for 20 more seconds.
	a := newAdapt(0, "onedrive")
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
	d := newAdapt(0, "onedrive")
	h = http.Header{}
	h.Set("x-ms-throttle-limit-percentage", "0.85")
	d.observe(http.StatusOK, h, now)
	if f, _ := d.state(); f != nearCut {
		t.Fatalf("factor %g after the directory reported 85%% used, want %g", f, nearCut)
	}
	// Malformed headers are ignored.
	e := newAdapt(0, "onedrive")
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

func TestDriveCosts(t *testing.T) {
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
	u, _ := url.Parse("https://graph.microsoft.com/v1.0/users/u/chats")
	if got := cost(Call{Service: graphsync.Teams}, &http.Request{URL: u}); got != 1 {
		t.Errorf("cost of a Teams request = %d, want 1", got)
	}
}
