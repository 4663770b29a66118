package syncer

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/graphsync/graphsync/graphsync"
)

// Metrics of the sync engine. Labels are bounded: resources and outcomes,
// never a connection or user id.
var (
	recordsWritten = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "graphsync_records_total",
		Help: "Records written by resource and action (upserted, deleted, left_window, quarantined).",
	}, []string{"resource", "action"})
	syncRuns = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "graphsync_sync_runs_total",
		Help: "Resource syncs by resource and outcome (ok, continued, throttled, reauth, needs_admin, missing_scope, no_access (a shared mailbox refused), unavailable, error).",
	}, []string{"resource", "outcome"})
	syncDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "graphsync_sync_duration_seconds",
		Help:    "Duration of resource syncs by resource.",
		Buckets: prometheus.ExponentialBuckets(0.05, 2.5, 12),
	}, []string{"resource"})
	deltaResyncs = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "graphsync_delta_resyncs_total",
		Help: "Delta rounds restarted from scratch because Graph expired the token (410 / syncStateNotFound).",
	}, []string{"resource"})
	batchedPages = promauto.NewCounter(prometheus.CounterOpts{
		Name: "graphsync_batched_requests_total",
		Help: "First pages of a job's streams (delta links, whole lists) asked inside JSON batches (up to 20 in one POST /$batch) instead of one by one.",
	})
	pagesFetched = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "graphsync_pages_total",
		Help: "Graph pages written to the database, by resource.",
	}, []string{"resource"})
	roundsRestarted = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "graphsync_rounds_restarted_total",
		Help: "Rounds ended and restarted because Graph's paging could not be followed, by resource and reason (refused: a link off Graph's origin or path; loop: a nextLink already followed; empty_pages: too many pages without an item).",
	}, []string{"resource", "reason"})
	smallerPages = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "graphsync_smaller_pages_total",
		Help: "Pages asked for again smaller (or item by item) because they could not be read whole (over the body cap, or not valid JSON), by resource.",
	}, []string{"resource"})
	detailsWritten = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "graphsync_details_total",
		Help: "Rows read per item with requests of their own (mail_attachments) written, by table and action (upserted, deleted).",
	}, []string{"table", "action"})
	contentsStored = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "graphsync_attachment_contents_total",
		Help: "Attachment contents stored, or skipped (over the size cap, or a reference without content).",
	}, []string{"outcome"})
	reconciled = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "graphsync_reconciled_total",
		Help: "Rows repaired by reconciliation passes, by resource and repair (deleted: Graph no longer lists the item and delta never said; fetched: Graph lists an item no live row held).",
	}, []string{"resource", "repair"})
	contentBytes = promauto.NewCounter(prometheus.CounterOpts{
		Name: "graphsync_attachment_content_bytes_total",
		Help: "Bytes of attachment content stored.",
	})
)

// Label values known in advance: their series are created at zero, so that
// rates and alert expressions have data before the first event.
var (
	recordActions = []string{"upserted", "deleted", "quarantined"}
	syncOutcomes  = []string{"ok", "continued", "throttled", "reauth", "needs_admin", "missing_scope", "no_access", "unavailable", "error"}
	roundReasons  = []string{"refused", "loop", "empty_pages"}
)

func init() {
	for _, r := range graphsync.All() {
		name := r.Name()
		for _, a := range recordActions {
			recordsWritten.WithLabelValues(name, a)
		}
		if r.Shape() == graphsync.WindowedDelta {
			recordsWritten.WithLabelValues(name, "left_window")
		}
		for _, o := range syncOutcomes {
			syncRuns.WithLabelValues(name, o)
		}
		syncDuration.WithLabelValues(name)
		deltaResyncs.WithLabelValues(name)
		pagesFetched.WithLabelValues(name)
		smallerPages.WithLabelValues(name)
		reconciled.WithLabelValues(name, "deleted")
		reconciled.WithLabelValues(name, "fetched")
		for _, reason := range roundReasons {
			roundsRestarted.WithLabelValues(name, reason)
		}
	}
}
