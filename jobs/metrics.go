package jobs

import (
	"context"
	"errors"
	"net"
	"net/url"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Metrics of the sync engine. Labels are bounded: resources, outcomes,
// queues, job kinds; never a connection or user id. Gauges read from the
// database are in gauges.go.
var (
	tokenRefreshes = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "graphsync_token_refreshes_total",
		Help: "Access-token refreshes by outcome (ok, skipped, invalid_grant, invalid_client, network, error).",
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
		Help: "Sync jobs by resource and outcome (ok, continued, throttled, reauth, missing_scope, unavailable, error).",
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
	jobOutcomes = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "graphsync_jobs_total",
		Help: "River jobs worked by this process, by queue, kind and outcome (completed, failed, discarded, cancelled, snoozed).",
	}, []string{"queue", "kind", "outcome"})
	jobDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "graphsync_job_duration_seconds",
		Help:    "Time River jobs spent in their worker, by queue.",
		Buckets: prometheus.ExponentialBuckets(0.01, 3, 12),
	}, []string{"queue"})
	jobWait = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "graphsync_job_queue_wait_seconds",
		Help:    "Time River jobs waited available before a worker took them, by queue.",
		Buckets: prometheus.ExponentialBuckets(0.01, 3, 12),
	}, []string{"queue"})
)

func init() { appCredentialsOK.Set(1) }

// Label values known in advance. Their series are created at zero when a
// worker starts, so that rates and alert expressions have data before the
// first event rather than appearing out of nothing.
var (
	refreshOutcomes = []string{"ok", "skipped", "invalid_grant", "invalid_client", "network", "error"}
	recordActions   = []string{"upserted", "deleted", "quarantined"}
	syncOutcomes    = []string{"ok", "continued", "throttled", "reauth", "missing_scope", "unavailable", "error"}
	jobKinds        = map[string][]string{
		QueueTokens: {RefreshArgs{}.Kind(), ScheduleArgs{}.Kind()},
		QueueSync:   {SyncArgs{}.Kind()},
	}
	jobOutcomeNames = []string{"completed", "failed", "discarded", "cancelled", "snoozed"}
)

func initSeries() {
	for _, o := range refreshOutcomes {
		tokenRefreshes.WithLabelValues(o)
	}
	for _, r := range Resources {
		for _, a := range recordActions {
			recordsWritten.WithLabelValues(r, a)
		}
		for _, o := range syncOutcomes {
			syncRuns.WithLabelValues(r, o)
		}
		syncDuration.WithLabelValues(r)
		deltaResyncs.WithLabelValues(r)
		pagesFetched.WithLabelValues(r)
	}
	for queue, kinds := range jobKinds {
		for _, k := range kinds {
			for _, o := range jobOutcomeNames {
				jobOutcomes.WithLabelValues(queue, k, o)
			}
		}
		jobDuration.WithLabelValues(queue)
		jobWait.WithLabelValues(queue)
	}
}

// refreshFailure names the outcome of a refresh that failed without a token
// error from the identity platform: network when no answer came back.
func refreshFailure(err error) string {
	var ue *url.Error
	var ne net.Error
	if errors.As(err, &ue) || errors.As(err, &ne) {
		return "network"
	}
	return "error"
}

// ObserveJobs counts the outcome of every job client works until ctx ends.
// Call it before client.Start.
func ObserveJobs(ctx context.Context, client *river.Client[pgx.Tx]) {
	initSeries()
	events, cancel := client.SubscribeConfig(&river.SubscribeConfig{
		ChanSize: 10_000,
		Kinds: []river.EventKind{river.EventKindJobCompleted, river.EventKindJobFailed,
			river.EventKindJobCancelled, river.EventKindJobSnoozed},
	})
	go func() {
		defer cancel()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-events:
				if !ok {
					return
				}
				observeJob(ev)
			}
		}
	}()
}

func observeJob(ev *river.Event) {
	if ev.Job == nil {
		return
	}
	outcome := ""
	switch ev.Kind {
	case river.EventKindJobCompleted:
		outcome = "completed"
	case river.EventKindJobFailed:
		outcome = "failed"
		if ev.Job.State == rivertype.JobStateDiscarded {
			outcome = "discarded"
		}
	case river.EventKindJobCancelled:
		outcome = "cancelled"
	case river.EventKindJobSnoozed:
		outcome = "snoozed"
	default:
		return
	}
	jobOutcomes.WithLabelValues(ev.Job.Queue, ev.Job.Kind, outcome).Inc()
	if ev.JobStats != nil {
		jobDuration.WithLabelValues(ev.Job.Queue).Observe(ev.JobStats.RunDuration.Seconds())
		jobWait.WithLabelValues(ev.Job.Queue).Observe(ev.JobStats.QueueWaitDuration.Seconds())
	}
}
