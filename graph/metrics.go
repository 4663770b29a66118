package graph

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Labels stay bounded: resource is one of the Call.Resource labels, never a
// mailbox, tenant or item id.
var (
	requestsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "graphsync_graph_requests_total",
		Help: "Requests sent to Microsoft Graph, by resource, method and status class (2xx, 4xx, 429, 5xx, error).",
	}, []string{"resource", "method", "status_class"})

	requestDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "graphsync_graph_request_duration_seconds",
		Help:    "Time from sending a Graph request to reading its whole body.",
		Buckets: []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 100},
	}, []string{"resource", "method"})

	throttledTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "graphsync_graph_throttled_total",
		Help: "Graph responses that throttled us (429) or said the service was busy (503).",
	}, []string{"resource", "status"})

	retryAfterSeconds = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "graphsync_graph_retry_after_seconds_total",
		Help: "Seconds of Retry-After or backoff waited in place or handed to the caller to wait.",
	}, []string{"resource"})

	retriesTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "graphsync_graph_retries_total",
		Help: "Graph requests retried, by reason.",
	}, []string{"resource", "reason"})
)

// init creates the throttling series at zero, so that throttling ratios and
// alerts have data before the first 429.
func init() {
	for r := range resourceLabels {
		for _, s := range []string{"429", "503"} {
			throttledTotal.WithLabelValues(r, s)
		}
		retryAfterSeconds.WithLabelValues(r)
	}
}
