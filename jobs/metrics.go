package jobs

import (
	"context"

	"github.com/graphsync/graphsync/changes"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Metrics of River's jobs in this process. Labels are bounded: queues, job
// kinds and outcomes. The sync engine's and the token source's metrics are
// in their packages.
var (
	jobOutcomes = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "graphsync_jobs_total",
		Help: "River jobs worked by this process, by queue, kind and outcome (completed, failed, discarded, cancelled, snoozed).",
	}, []string{"queue", "kind", "outcome"})
	jobDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "graphsync_job_duration_seconds",
		Help:    "Time River jobs spent in their worker, by queue.",
		Buckets: prometheus.ExponentialBuckets(0.01, 3, 12),
	}, []string{"queue"})
	notificationToCommit = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "graphsync_notification_to_commit_seconds",
		Help:    "Time from a change notification's arrival to the commit of the sync it queued.",
		Buckets: []float64{.1, .25, .5, 1, 2, 3, 5, 10, 30, 60, 300},
	})
	unnotifiedChanges = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "graphsync_unnotified_changes_total",
		Help: "Syncs that found changes in a subscribed resource that no change notification announced (Graph did not notify, or could not reach the endpoint), by resource.",
	}, []string{"resource"})
	jobWait = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "graphsync_job_queue_wait_seconds",
		Help:    "Time River jobs waited available before a worker took them, by queue.",
		Buckets: prometheus.ExponentialBuckets(0.01, 3, 12),
	}, []string{"queue"})
)

// Label values known in advance. Their series are created at zero when a
// worker starts, so that rates and alert expressions have data before the
// first event rather than appearing out of nothing.
var (
	// JobKinds lists each queue's job kinds.
	JobKinds = map[string][]string{
		QueueTokens:  {RefreshArgs{}.Kind(), ScheduleArgs{}.Kind(), SubscriptionsArgs{}.Kind()},
		QueueSync:    {SyncArgs{}.Kind()},
		QueueChanges: {WebhookArgs{}.Kind(), PruneChangesArgs{}.Kind()},
	}
	jobOutcomeNames = []string{"completed", "failed", "discarded", "cancelled", "snoozed"}
)

func initSeries() {
	changes.InitMetrics()
	for queue, kinds := range JobKinds {
		for _, k := range kinds {
			for _, o := range jobOutcomeNames {
				jobOutcomes.WithLabelValues(queue, k, o)
			}
		}
		jobDuration.WithLabelValues(queue)
		jobWait.WithLabelValues(queue)
	}
	for _, r := range graphsync.Notifiable() {
		unnotifiedChanges.WithLabelValues(r.Name())
	}
}

// ObserveJobs counts the outcome of every job client works until ctx ends.
// Call it before client.Start.
func ObserveJobs(ctx context.Context, client *river.Client[store.Tx]) {
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
