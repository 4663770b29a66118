// Package loopback hands out loopback addresses that are free now, for a
// server a test or benchmark starts later (a redirect URI registered before
// its listener exists, a Prometheus scrape target).
//
// Ports come from below the kernel's ephemeral range: a port picked from
// that range (":0") and released can be taken by any outgoing connection
// before its owner binds it again, and a sign-in binds and releases its
// redirect port once per user.
package loopback

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync"
)

var (
	mu     sync.Mutex
	handed = map[int]bool{} // never the same port twice in one process
)

// Addr returns "127.0.0.1:port" for a port nothing listens on now.
func Addr() (string, error) {
	low := ephemeralLow()
	const floor = 10000
	if low <= floor+100 {
		// No room below the ephemeral range: take a port from it.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		defer l.Close()
		return l.Addr().String(), nil
	}
	mu.Lock()
	defer mu.Unlock()
	for range 200 {
		port := floor + rand.IntN(low-floor)
		if handed[port] {
			continue
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		l.Close()
		handed[port] = true
		return addr, nil
	}
	return "", errors.New("loopback: no free port below the ephemeral range")
}

// ephemeralLow is the first port of the kernel's ephemeral range
// (32768 when it cannot be read).
var ephemeralLow = sync.OnceValue(func() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	var low, high int
	if err != nil {
		return 32768
	}
	if _, err := fmt.Sscan(string(b), &low, &high); err != nil || low <= 0 {
		return 32768
	}
	return low
})
