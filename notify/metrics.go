package notify

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics of change notifications. Labels are bounded outcomes; the
// subscriptions by status are read from the database by the server's
// gauges.
var (
	renewals = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "graphsync_subscription_renewals_total",
		Help: "Change-notification subscriptions created, renewed, deleted or failed, by outcome.",
	}, []string{"outcome"})
	received = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "graphsync_notifications_total",
		Help: "Notifications received from Graph, by outcome (accepted, duplicate, rejected: wrong clientState, unknown subscription, malformed, validation, error, lifecycle_<event>).",
	}, []string{"outcome"})
)

func init() {
	for _, o := range []string{"created", "renewed", "deleted", "failed"} {
		renewals.WithLabelValues(o)
	}
	for _, o := range []string{"accepted", "duplicate", "rejected", "unknown", "malformed", "validation", "error",
		"lifecycle_reauthorizationRequired", "lifecycle_subscriptionRemoved", "lifecycle_missed", "lifecycle_other"} {
		received.WithLabelValues(o)
	}
}
