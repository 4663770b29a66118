package graph

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/graphsync/graphsync/graphsync"
)

// Labels stay bounded: resource is one of the Call.Resource labels, never a
// mailbox, tenant or item id.
var (
	requestsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "graphsync_graph_requests_total",
		Help: "Requests sent to Microsoft Graph, by resource, method and status class (2xx, 4xx, 429, 5xx, error); each request of a JSON batch counts too, as Graph counts it.",
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

	gateCutsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "graphsync_graph_gate_cuts_total",
		Help: "Times a gate of this process slowed down, by service and reason: throttled (Graph answered 429 or 503: rate and concurrency halved) or near_limit (the service's headers said its budget was over 80% used).",
	}, []string{"service", "reason"})

	gatesSlowed = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "graphsync_graph_gates_slowed",
		Help: "Gates (mailboxes, tenant services) of this process sending below their configured rate or concurrency since Graph throttled or warned them, by service.",
	}, []string{"service"})

	gatesHeld = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "graphsync_graph_gates",
		Help: "Gates (mailboxes, tenant services) this process holds, by service; set every few seconds.",
	}, []string{"service"})

	gateRate = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "graphsync_graph_gate_rate",
		Help: "Requests (OneDrive, directory: resource units) per second the gates of this process let through now, summed by service; below graphsync_graph_gate_configured_rate while Graph's answers slow them.",
	}, []string{"service"})

	gateConfiguredRate = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "graphsync_graph_gate_configured_rate",
		Help: "Requests (OneDrive, directory: resource units) per second the gates of this process would let through at their configured rates, summed by service.",
	}, []string{"service"})

	gateConcurrency = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "graphsync_graph_gate_concurrency",
		Help: "Requests in flight the gates of this process allow now (Outlook: at most 4 a mailbox), summed by service.",
	}, []string{"service"})

	budgetTakesTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "graphsync_tenant_budget_takes_total",
		Help: "Slices this process asked of the tenants' shared budgets in PostgreSQL, by service and outcome: granted, empty (the bucket had too little: wait for it to refill), error.",
	}, []string{"service", "outcome"})

	budgetWaitSeconds = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "graphsync_tenant_budget_wait_seconds_total",
		Help: "Seconds this process waited for a tenant's shared budget to refill (one wait, however many requests queue behind it), by service.",
	}, []string{"service"})
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
	for _, svc := range graphsync.Services {
		if svc == graphsync.Insights {
			continue // its requests pass the mailbox's Outlook gate
		}
		s := svc.String()
		gatesSlowed.WithLabelValues(s)
		for _, reason := range []string{"throttled", "near_limit"} {
			gateCutsTotal.WithLabelValues(s, reason)
		}
	}
	for _, svc := range []graphsync.Service{graphsync.Teams, graphsync.OneDrive, graphsync.Directory} {
		for _, outcome := range []string{"granted", "empty", "error"} {
			budgetTakesTotal.WithLabelValues(svc.String(), outcome)
		}
		budgetWaitSeconds.WithLabelValues(svc.String())
	}
}
