package emulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

type faultInjector struct {
	mu  sync.Mutex
	f   Faults
	rng *rand.Rand
}

func (fi *faultInjector) init(seed int64) {
	fi.rng = rand.New(rand.NewPCG(uint64(seed), 0xfa17))
}

// SetFaults replaces the fault configuration; the zero value disables
// faults. An invalid configuration is refused and the previous one kept.
func (em *Emulator) SetFaults(f Faults) error {
	if err := f.validate(); err != nil {
		return err
	}
	em.flt.mu.Lock()
	defer em.flt.mu.Unlock()
	em.flt.f = f
	return nil
}

func (f Faults) validate() error {
	for name, r := range map[string]float64{"Status500": f.Status500, "Status502": f.Status502, "Status503": f.Status503,
		"Status504": f.Status504, "RetryAfter": f.RetryAfter, "Reset": f.Reset, "Slow": f.Slow, "Truncated": f.Truncated,
		"MalformedJSON": f.MalformedJSON, "DeltaExpired": f.DeltaExpired, "TokenEndpoint": f.TokenEndpoint} {
		if r < 0 || r > 1 || r != r {
			return fmt.Errorf("faults: %s is %v; rates are between 0 and 1", name, r)
		}
	}
	if f.SlowBy < 0 {
		return fmt.Errorf("faults: SlowBy %s is negative", f.SlowBy)
	}
	if f.LinkOrigin != "" {
		u, err := url.Parse(f.LinkOrigin)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return fmt.Errorf("faults: LinkOrigin %q is not an origin such as https://evil.example", f.LinkOrigin)
		}
		if f.LinkDefaultPort {
			return errors.New("faults: LinkOrigin and LinkDefaultPort both rewrite the links' origin; set one")
		}
	}
	if f.LinkKind != "" && f.LinkKind != "nextLink" && f.LinkKind != "deltaLink" {
		return fmt.Errorf("faults: LinkKind %q: want nextLink, deltaLink or empty for both", f.LinkKind)
	}
	switch f.Redirect {
	case 0, 301, 302, 303, 307, 308:
	default:
		return fmt.Errorf("faults: Redirect %d is not a redirect status (301, 302, 303, 307 or 308)", f.Redirect)
	}
	for name, v := range map[string]string{"RedirectTo": f.RedirectTo, "TokenRedirect": f.TokenRedirect} {
		if v == "" {
			continue
		}
		if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("faults: %s %q is not an absolute http(s) URL", name, v)
		}
	}
	if f.RedirectTo != "" && f.Redirect == 0 {
		return errors.New("faults: RedirectTo is set but Redirect (the status) is not")
	}
	return nil
}

// routeHit reports whether path matches f.Routes.
func (f *Faults) routeHit(path string) bool {
	if len(f.Routes) == 0 {
		return true
	}
	for _, r := range f.Routes {
		if strings.Contains(path, r) {
			return true
		}
	}
	return false
}

// fixed returns the configuration when path matches Routes, for the switch
// faults (links, redirects, empty pages).
func (fi *faultInjector) fixed(path string) (Faults, bool) {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	return fi.f, fi.f.routeHit(path)
}

func (fi *faultInjector) roll(path string) (Faults, float64, float64, bool) {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	f := fi.f
	if !f.routeHit(path) {
		return f, 0, 0, false
	}
	return f, fi.rng.Float64(), fi.rng.Float64(), true
}

// hit reports, with the probability rate picks from the configuration,
// that a fault outside apply's mix (expired delta tokens, token endpoint
// errors) fires.
func (fi *faultInjector) hit(rate func(Faults) float64) bool {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	r := rate(fi.f)
	return r > 0 && fi.rng.Float64() < r
}

// tokenEndpointFault answers a token request with a transient identity
// platform error when the TokenEndpoint rate fires; it reports whether it did.
func (em *Emulator) tokenEndpointFault(w http.ResponseWriter) bool {
	if !em.flt.hit(func(f Faults) float64 { return f.TokenEndpoint }) {
		return false
	}
	em.flt.mu.Lock()
	unavailable := em.flt.rng.IntN(2) == 0
	em.flt.mu.Unlock()
	if unavailable {
		em.cnt.fault("token_503")
		em.tokenError(w, http.StatusServiceUnavailable, "temporarily_unavailable", 90033, "A transient error has occurred. Please try again.", "")
		return true
	}
	em.cnt.fault("token_500")
	em.tokenError(w, http.StatusInternalServerError, "server_error", 50000, "There was an error issuing a token or an issue with our sign-in service.", "")
	return true
}

// apply injects at most one fault; it reports whether the response has been
// fully handled (the caller must then stop).
func (fi *faultInjector) apply(c *call, w *statusWriter) bool {
	f, x, y, ok := fi.roll(c.r.URL.Path)
	if !ok {
		return false
	}
	em := c.em
	steps := []struct {
		rate float64
		kind string
	}{{f.Reset, "reset"}, {f.Status500, "500"}, {f.Status502, "502"}, {f.Status503, "503"}, {f.Status504, "504"},
		{f.Truncated, "truncated"}, {f.MalformedJSON, "malformed"}, {f.Slow, "slow"}}
	kind := ""
	acc := 0.0
	for _, s := range steps {
		acc += s.rate
		if x < acc {
			kind = s.kind
			break
		}
	}
	if kind == "" {
		return false
	}
	em.cnt.fault(kind)
	switch kind {
	case "reset":
		conn, _, err := http.NewResponseController(w.ResponseWriter).Hijack()
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // send RST rather than FIN
		}
		_ = conn.Close()
		w.status = 0
		return true
	case "500", "502", "503", "504":
		status, _ := strconv.Atoi(kind)
		if y < f.RetryAfter {
			w.Header().Set("Retry-After", "1")
		}
		cm := faultBodies[status]
		c.fail(status, cm[0], cm[1])
		return true
	case "slow":
		t := time.NewTimer(f.SlowBy)
		select {
		case <-t.C:
		case <-c.r.Context().Done():
			t.Stop()
			c.damaged = true
			return true
		}
		return false
	default: // truncated, malformed: serve into a buffer, then damage it
		c.damaged = true
		buf := &bufferWriter{h: http.Header{}, status: 200}
		c.w = buf
		em.dispatch(c)
		for k, v := range buf.h {
			w.Header()[k] = v
		}
		body := buf.b.Bytes()
		if kind == "malformed" && buf.status == http.StatusOK {
			body = append(body[:len(body)/2:len(body)/2], `,"value":[{"id":`...)
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(buf.status)
			_, _ = w.Write(body)
			return true
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(buf.status)
		if kind == "truncated" && len(body) > 1 {
			_, _ = w.Write(body[:len(body)/2])
			if fl, ok := w.ResponseWriter.(http.Flusher); ok {
				fl.Flush()
			}
			panic(http.ErrAbortHandler) // closes the connection short of Content-Length
		}
		_, _ = w.Write(body)
		return true
	}
}

// faultBodies are the codes and messages errors.md documents per status.
var faultBodies = map[int][2]string{
	500: {"generalException", "General Exception While Processing"},
	502: {"badGateway", "The server, while acting as a gateway or proxy, received an invalid response from the upstream server."},
	503: {"serviceNotAvailable", "The service is temporarily unavailable for maintenance or is overloaded. You may repeat the request after a delay, which may be specified in a Retry-After header."},
	504: {"gatewayTimeout", "The server, while acting as a proxy, did not receive a timely response from the upstream server it accessed in attempting to complete the request."},
}

type bufferWriter struct {
	h      http.Header
	b      bytes.Buffer
	status int
	wrote  bool
}

func (b *bufferWriter) Header() http.Header { return b.h }
func (b *bufferWriter) WriteHeader(s int) {
	if !b.wrote {
		b.status, b.wrote = s, true
	}
}
func (b *bufferWriter) Write(p []byte) (int, error) { b.wrote = true; return b.b.Write(p) }

// sleepLatency waits a random duration in [Min, Max].
func (em *Emulator) sleepLatency(r *http.Request) error {
	l := em.cfg.Latency
	if l.Max <= 0 {
		return nil
	}
	d := l.Min
	if l.Max > l.Min {
		em.flt.mu.Lock()
		d += time.Duration(em.flt.rng.Int64N(int64(l.Max - l.Min)))
		em.flt.mu.Unlock()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-r.Context().Done():
		return r.Context().Err()
	}
}

// applyFixed serves the switch faults that act on a whole response: a
// redirect instead of the response, or the response with its paging links
// rewritten. It reports whether it served the request.
func (em *Emulator) applyFixed(c *call, w *statusWriter) bool {
	f, ok := em.flt.fixed(c.r.URL.Path)
	if !ok {
		return false
	}
	if f.Redirect != 0 {
		to := f.RedirectTo
		if to == "" {
			to = "https://evil.example"
		}
		em.cnt.fault("redirect")
		w.Header().Set("Location", redirectTarget(to, c.r))
		w.WriteHeader(f.Redirect)
		return true
	}
	if f.LinkOrigin == "" && !f.LinkDefaultPort && !f.NextLinkLoop {
		return false
	}
	buf := &bufferWriter{h: http.Header{}, status: 200}
	c.w = buf
	em.dispatch(c)
	body := buf.b.Bytes()
	if buf.status == http.StatusOK {
		self := "http://" + c.r.Host + c.r.URL.RequestURI()
		body = rewriteLinks(body, func(key, link string) (string, string) {
			switch {
			case f.NextLinkLoop:
				em.cnt.fault("next_link_loop")
				return "@odata.nextLink", self
			case f.LinkKind != "" && "@odata."+f.LinkKind != key:
				return key, link
			}
			u, err := url.Parse(link)
			if err != nil {
				return key, link
			}
			if f.LinkOrigin != "" {
				o, _ := url.Parse(f.LinkOrigin)
				u.Scheme, u.Host = o.Scheme, o.Host
				em.cnt.fault("link_origin")
			} else {
				port := "80"
				if u.Scheme == "https" {
					port = "443"
				}
				u.Host = net.JoinHostPort(u.Hostname(), port)
				em.cnt.fault("link_default_port")
			}
			return key, u.String()
		})
	}
	for k, v := range buf.h {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(buf.status)
	_, _ = w.Write(body)
	return true
}

// redirectTarget is to, with the request's path and query when to has no
// path of its own.
func redirectTarget(to string, r *http.Request) string {
	u, err := url.Parse(to)
	if err != nil || (u.Path != "" && u.Path != "/") {
		return to
	}
	return strings.TrimSuffix(to, "/") + r.URL.RequestURI()
}

// tokenRedirect answers a token request 307 when Faults.TokenRedirect is
// set; it reports whether it did.
func (em *Emulator) tokenRedirect(w http.ResponseWriter, r *http.Request) bool {
	em.flt.mu.Lock()
	to := em.flt.f.TokenRedirect
	em.flt.mu.Unlock()
	if to == "" {
		return false
	}
	em.cnt.fault("token_redirect")
	w.Header().Set("Location", redirectTarget(to, r))
	w.WriteHeader(http.StatusTemporaryRedirect)
	return true
}

// emptyPages reports whether Faults.EmptyPages applies to the request.
func (em *Emulator) emptyPages(c *call) bool {
	f, ok := em.flt.fixed(c.r.URL.Path)
	return ok && f.EmptyPages
}

// rewriteLinks passes each top-level "@odata.nextLink" and
// "@odata.deltaLink" of a JSON body to fn, which returns the key and link
// to write in their place; the rest of the body is kept byte for byte.
func rewriteLinks(body []byte, fn func(key, link string) (string, string)) []byte {
	var out []byte
	rest := body
	for {
		i, key := -1, ""
		for _, k := range []string{"@odata.nextLink", "@odata.deltaLink"} {
			if j := bytes.Index(rest, []byte(`"`+k+`":"`)); j >= 0 && (i < 0 || j < i) {
				i, key = j, k
			}
		}
		if i < 0 {
			return append(out, rest...)
		}
		start := i + len(key) + 3 // the value's opening quote
		end := start + 1
		for end < len(rest) && rest[end] != '"' {
			if rest[end] == '\\' {
				end++
			}
			end++
		}
		if end >= len(rest) {
			return append(out, rest...)
		}
		var link string
		if json.Unmarshal(rest[start:end+1], &link) != nil {
			return append(out, rest...)
		}
		k, l := fn(key, link)
		out = append(out, rest[:i]...)
		out = append(out, raw(k)...)
		out = append(out, ':')
		out = append(out, raw(l)...)
		rest = rest[end+1:]
	}
}
