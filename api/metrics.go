package api

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics of the API. Labels are bounded: route patterns, statuses,
// outcomes, token kinds.
var (
	requests = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "graphsync_api_requests_total",
		Help: "API requests by route (pattern) and HTTP status.",
	}, []string{"route", "status"})
	proxied = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "graphsync_api_proxy_requests_total",
		Help: "Requests through the Graph proxy by outcome: ok (2xx-3xx), client_error (Graph answered 4xx but 429), graph_error (5xx), " +
			"throttled_local (a Retry-After window of the scope was longer than the request would wait: answered 429 without calling Graph), " +
			"throttled_graph (Graph answered 429 or 503 with Retry-After), refused (bad path or body too large), failed (no answer from Graph).",
	}, []string{"outcome"})
	tokenRequests = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "graphsync_api_token_requests_total",
		Help: "Access tokens handed out by the API by resource (graph, sharepoint) and outcome: cached (stored and fresh), refreshed (redeemed for this request), error.",
	}, []string{"resource", "outcome"})
	sessions = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "graphsync_api_connect_sessions_total",
		Help: "Hosted connect sessions by outcome: created, completed, replayed (a link or sign-in answer used again, refused), or the error code sent to the app (consent_denied, expired, ...).",
	}, []string{"outcome"})
)

var proxyOutcomes = []string{"ok", "client_error", "graph_error", "throttled_local", "throttled_graph", "refused", "failed"}

// init creates the series at zero, so rates and alerts have data before
// the first event.
func init() {
	for _, o := range proxyOutcomes {
		proxied.WithLabelValues(o)
	}
	for _, k := range []string{"graph", "sharepoint"} {
		for _, o := range []string{"cached", "refreshed", "error"} {
			tokenRequests.WithLabelValues(k, o)
		}
	}
	for _, o := range []string{"created", "completed"} {
		sessions.WithLabelValues(o)
	}
}
