package emulator

import (
	"fmt"
	"sort"
	"sync"
	"time"
)

// maxRateRecords bounds each service and tenant's arrival log; past it the
// older half is dropped, so measurements cover the latest arrivals.
const maxRateRecords = 1 << 20

// rateLog records when each Graph request reached throttling, per service
// and tenant, with what it cost: the raw material of sliding-window rates,
// which fixed throttling windows cannot show (a client can send twice its
// limit across a window boundary).
type rateLog struct {
	mu   sync.Mutex
	logs map[rateKey]*arrivals
}

type rateKey struct{ service, tenant string }

// arrivals are parallel slices, 10 bytes a request.
type arrivals struct {
	at   []int64 // unix nanoseconds, in about arrival order (maxInWindow sorts)
	cost []uint16
}

func (rl *rateLog) record(service, tenant string, at time.Time, cost int) {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if rl.logs == nil {
		rl.logs = map[rateKey]*arrivals{}
	}
	a := rl.logs[rateKey{service, tenant}]
	if a == nil {
		a = &arrivals{}
		rl.logs[rateKey{service, tenant}] = a
	}
	if len(a.at) >= maxRateRecords {
		half := len(a.at) / 2
		a.at = append(a.at[:0], a.at[half:]...)
		a.cost = append(a.cost[:0], a.cost[half:]...)
	}
	a.at = append(a.at, at.UnixNano())
	a.cost = append(a.cost, uint16(min(cost, 1<<16-1)))
}

func (rl *rateLog) reset() {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	rl.logs = nil
}

// Services whose requests are measured, as MaxRequestsInWindow names them.
var rateServices = []string{svcOutlook, svcTeams, svcDrive, svcDirectory}

// maxInWindow is the largest sum of weight over the arrivals of service
// (and tenant, unless "") within any span of window: [t, t+window).
func (rl *rateLog) maxInWindow(service, tenant string, window time.Duration, weight func(cost uint16) int) (int, error) {
	known := false
	for _, s := range rateServices {
		known = known || s == service
	}
	if !known {
		return 0, fmt.Errorf("rates: unknown service %q (want outlook, teams, drive or directory)", service)
	}
	if window <= 0 {
		return 0, fmt.Errorf("rates: window %s is not positive", window)
	}
	rl.mu.Lock()
	var at []int64
	var cost []uint16
	for k, a := range rl.logs {
		if k.service == service && (tenant == "" || k.tenant == tenant) {
			at = append(at, a.at...)
			cost = append(cost, a.cost...)
		}
	}
	rl.mu.Unlock()
	idx := make([]int, len(at))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(i, j int) bool { return at[idx[i]] < at[idx[j]] })
	best, sum, lo := 0, 0, 0
	for hi := range idx {
		sum += weight(cost[idx[hi]])
		for at[idx[hi]]-at[idx[lo]] >= int64(window) {
			sum -= weight(cost[idx[lo]])
			lo++
		}
		best = max(best, sum)
	}
	return best, nil
}

// MaxRequestsInWindow is the largest number of Graph requests of service
// ("outlook", "teams", "drive" or "directory") for tenant (a tenant id, as
// in the access token's tid; "" for every tenant) that arrived within any
// window-long span since the emulator started or ResetCounters. Every
// request that reached throttling counts, throttled ones included, as the
// services count them; $batch sub-requests count one by one. A test can
// assert, for instance, no more than 20 Teams requests in any second.
func (em *Emulator) MaxRequestsInWindow(service, tenant string, window time.Duration) (int, error) {
	return em.rates.maxInWindow(service, tenant, window, func(uint16) int { return 1 })
}

// MaxResourceUnitsInWindow is MaxRequestsInWindow weighted by each
// request's cost: SharePoint resource units for drive (1 for a delta with a
// token, 2 without), identity resource units for directory, one per request
// for outlook and teams.
func (em *Emulator) MaxResourceUnitsInWindow(service, tenant string, window time.Duration) (int, error) {
	return em.rates.maxInWindow(service, tenant, window, func(c uint16) int { return int(c) })
}
