// Package server is the HTTP side of a graphsync worker process: /healthz
// (the process is alive), /readyz (the database answers and no migration is
// pending), Prometheus /metrics with the gauges read from the database,
// the API for apps (/v1/, /connect/, handed over by the caller), and
// River UI behind the admin token. It refuses to serve River UI
// unprotected off loopback.
package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/riverqueue/river"
	"riverqueue.com/riverui"

	"github.com/graphsync/graphsync/changes"
	"github.com/graphsync/graphsync/store"
)

// ErrConfig marks errors in the server's configuration (as opposed to the
// machine's: a port in use).
var ErrConfig = errors.New("configuration")

// RiverUIPrefix is where River UI is mounted.
const RiverUIPrefix = "/riverui"

// Config configures the server.
type Config struct {
	// Addr is the listen address (host:port).
	Addr  string
	Store *store.Store
	// River is the client River UI reads and acts through; nil serves no UI.
	River *river.Client[store.Tx]
	// UIToken protects River UI (bearer token or basic-auth password).
	UIToken string
	// SecretExpiresAt is when the app's client secret expires, exported as
	// a metric; zero when unknown.
	SecretExpiresAt time.Time
	// API, when set, serves the API for apps at /v1/ and its hosted
	// connect pages at /connect/ (package api); it authenticates its own
	// requests.
	API    http.Handler
	Logger *slog.Logger
}

// Server is a running HTTP server.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server at once.
func (s *Server) Close() error { return s.srv.Close() }

// Start listens on cfg.Addr and serves until Close or ctx's end (River UI
// stops with ctx). River UI answers only requests whose Host names the
// worker's address, and refuses cross-origin requests that change state.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.River != nil && cfg.UIToken == "" && !IsLoopback(cfg.Addr) {
		return nil, fmt.Errorf("%w: GRAPHSYNC_HTTP_ADDR %s is not a loopback address, so River UI needs GRAPHSYNC_UI_TOKEN to protect it (or set GRAPHSYNC_RIVER_UI=false)", ErrConfig, cfg.Addr)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on GRAPHSYNC_HTTP_ADDR %s: %w", cfg.Addr, err)
	}
	s := &Server{ln: ln}
	defer func() {
		if s.srv == nil {
			ln.Close()
		}
	}()
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := ready(r.Context(), cfg.Store); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})

	// The database gauges are registered per server, not globally, so
	// that several workers in one process (tests) each export their own.
	reg := prometheus.NewRegistry()
	if err := reg.Register(NewGauges(GaugesConfig{Store: cfg.Store, Logger: log, SecretExpiresAt: cfg.SecretExpiresAt})); err != nil {
		return nil, fmt.Errorf("register database gauges: %w", err)
	}
	if err := reg.Register(changes.NewGauges(cfg.Store, log)); err != nil {
		return nil, fmt.Errorf("register change feed gauges: %w", err)
	}
	mux.Handle("/metrics", promhttp.HandlerFor(prometheus.Gatherers{prometheus.DefaultGatherer, reg},
		promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelError), ErrorHandling: promhttp.ContinueOnError}))

	paths := "/healthz /readyz /metrics"
	if cfg.API != nil {
		mux.Handle("/v1/", cfg.API)
		mux.Handle("/connect/", cfg.API)
		paths += " /v1/ /connect/"
	}
	if cfg.River != nil {
		ui, err := riverui.NewHandler(&riverui.HandlerOpts{
			Endpoints: riverui.NewEndpoints(cfg.River, nil),
			Logger:    log.With("component", "riverui"),
			Prefix:    RiverUIPrefix,
			// Job args name connections, not secrets, but they are
			// nobody's business at a glance.
			JobListHideArgsByDefault: true,
		})
		if err != nil {
			return nil, fmt.Errorf("river UI: %w", err)
		}
		if err := ui.Start(ctx); err != nil {
			return nil, fmt.Errorf("start river UI: %w", err)
		}
		mux.Handle(RiverUIPrefix+"/", guardUI(uiHosts(cfg.Addr, ln.Addr()), RequireToken(cfg.UIToken, ui)))
		paths += " " + RiverUIPrefix + "/"
		if cfg.UIToken == "" {
			log.Warn("River UI is unprotected: set GRAPHSYNC_UI_TOKEN", "addr", cfg.Addr)
		}
	}

	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("worker HTTP server", "error", err)
		}
	}()
	log.Info("worker HTTP endpoints", "addr", ln.Addr().String(), "paths", paths)
	return s, nil
}

// ready says why the worker cannot do its job yet, or nil.
func ready(ctx context.Context, st *store.Store) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := st.Ping(ctx); err != nil {
		return errors.New("database unreachable")
	}
	pending, err := st.Pending(ctx)
	if err != nil {
		return errors.New("cannot read migrations")
	}
	if len(pending) > 0 {
		return errors.New("migrations pending: " + strings.Join(pending, ", "))
	}
	return nil
}

// RequireToken lets a request through when it carries token as a bearer
// token or as the password of HTTP basic auth (what a browser can send);
// an empty token lets everything through. Comparison is in constant time.
func RequireToken(token string, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := ""
		if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			got = v
		} else if _, pw, ok := r.BasicAuth(); ok {
			got = pw
		}
		// Hashing first makes the comparison independent of the length.
		sum := sha256.Sum256([]byte(got))
		if got == "" || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="graphsync", charset="UTF-8"`)
			http.Error(w, "unauthorized: send GRAPHSYNC_UI_TOKEN as a bearer token or basic-auth password", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// IsLoopback reports whether a host:port listens on loopback only.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// StartPprof serves the profiling endpoints on their own listener, which
// must be loopback: profiles reveal memory contents. The command line
// (/debug/pprof/cmdline) is not served.
func StartPprof(addr string) (*Server, error) {
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("%w: --pprof %q is not a loopback host:port such as 127.0.0.1:6060", ErrConfig, addr)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	// The command line may hold secrets given as flags; it is not served.
	mux.HandleFunc("/debug/pprof/cmdline", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not served: the command line may hold secrets", http.StatusNotFound)
	})
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on --pprof %s: %w", addr, err)
	}
	s := &Server{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, ln: ln}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}
