package jobs

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics of the sync engine. Labels are bounded: resources, outcomes,
// queues; never a connection or user id.
var (
	tokenRefreshes = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "graphsync_token_refreshes_total",
		Help: "Access-token refreshes by outcome (ok, skipped, invalid_grant, invalid_client, error).",
	}, []string{"outcome"})
	appCredentialsOK = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "graphsync_app_credentials_ok",
		Help: "0 after the identity platform refused the app's client id or secret, 1 otherwise.",
	})
	recordsWritten = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "graphsync_records_total",
		Help: "Records written by resource and action (upserted, deleted, quarantined).",
	}, []string{"resource", "action"})
	syncRuns = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "graphsync_sync_runs_total",
		Help: "Sync jobs by resource and outcome (ok, continued, throttled, reauth, missing_scope, error).",
	}, []string{"resource", "outcome"})
	syncDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "graphsync_sync_duration_seconds",
		Help:    "Duration of sync jobs by resource.",
		Buckets: prometheus.ExponentialBuckets(0.05, 2.5, 12),
	}, []string{"resource"})
	deltaResyncs = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "graphsync_delta_resyncs_total",
		Help: "Delta rounds restarted from scratch because Graph expired the token (410 / syncStateNotFound).",
	}, []string{"resource"})
	pagesFetched = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "graphsync_pages_total",
		Help: "Graph pages written to the database, by resource.",
	}, []string{"resource"})
)

func init() { appCredentialsOK.Set(1) }
