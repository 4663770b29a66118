package server

import (
	"fmt"
	"net"
	"net/http"
	"strings"
)

// uiHosts lists the Host headers River UI answers, given the configured
// address and the one bound (whose port may have been chosen): the
// configured host with the bound port, and for a loopback address every
// loopback name. A wildcard address (":9464", "0.0.0.0:9464") gives nil,
// any host: off loopback River UI needs its token anyway.
func uiHosts(configured string, bound net.Addr) map[string]bool {
	host, _, err := net.SplitHostPort(configured)
	_, port, perr := net.SplitHostPort(bound.String())
	if err != nil || perr != nil {
		return nil
	}
	ip := net.ParseIP(host)
	if host == "" || (ip != nil && ip.IsUnspecified()) {
		return nil
	}
	names := []string{host}
	if IsLoopback(configured) {
		names = append(names, "localhost", "127.0.0.1", "::1")
	}
	hosts := map[string]bool{}
	for _, n := range names {
		hosts[hostKey(net.JoinHostPort(n, port))] = true
	}
	return hosts
}

// hostKey normalises a Host header: lower case, the port always written
// (80 when absent: the server speaks plain HTTP).
func hostKey(h string) string {
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	if host, port, err := net.SplitHostPort(h); err == nil {
		return net.JoinHostPort(strings.TrimSuffix(host, "."), port)
	}
	return net.JoinHostPort(strings.Trim(h, "[]"), "80")
}

// guardUI keeps a browser from being turned against River UI, with or
// without its token: a request whose Host names another host is refused
// (a page on a DNS-rebound name reaching a loopback worker), and so is a
// request that changes state sent from another origin (Sec-Fetch-Site or
// Origin, as net/http's CrossOriginProtection judges it).
func guardUI(hosts map[string]bool, next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "forbidden: River UI refuses requests that change state from another origin", http.StatusForbidden)
	}))
	guarded := cop.Handler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hosts != nil && !hosts[hostKey(r.Host)] {
			http.Error(w, fmt.Sprintf("forbidden: Host %q is not this worker's address (GRAPHSYNC_HTTP_ADDR)", r.Host), http.StatusForbidden)
			return
		}
		guarded.ServeHTTP(w, r)
	})
}
