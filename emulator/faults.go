package emulator

import (
	"bytes"
	"math/rand/v2"
	"net"
	"net/http"
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

// SetFaults replaces the fault configuration; the zero value disables faults.
func (em *Emulator) SetFaults(f Faults) {
	em.flt.mu.Lock()
	defer em.flt.mu.Unlock()
	em.flt.f = f
}

func (fi *faultInjector) roll(path string) (Faults, float64, float64, bool) {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	f := fi.f
	if len(f.Routes) > 0 {
		hit := false
		for _, r := range f.Routes {
			if strings.Contains(path, r) {
				hit = true
				break
			}
		}
		if !hit {
			return f, 0, 0, false
		}
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
