package changes

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/graphsync/graphsync/store"
)

// Delivery outcomes.
const (
	outcomeDelivered   = "delivered"
	outcomeRejected    = "rejected"
	outcomeUnreachable = "unreachable"
	outcomeExpired     = "expired"
)

// Metrics of the change feed. Deliveries are counted by the process that
// made them; the gauges are read from the database (Gauges), the same on
// every worker. Labels are bounded: outcomes, and endpoint ids, which
// operators register by hand.
var (
	deliveries = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "graphsync_webhook_deliveries_total",
		Help: "Webhook deliveries (one batch each) by outcome: delivered (2xx), rejected (another status), unreachable (network error or timeout), expired (the endpoint fell behind the feed's retention).",
	}, []string{"outcome"})
	delivered = promauto.NewCounter(prometheus.CounterOpts{
		Name: "graphsync_webhook_changes_delivered_total",
		Help: "Changes delivered to webhook endpoints (accepted with a 2xx).",
	})
	deliveryDuration = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "graphsync_webhook_delivery_duration_seconds",
		Help:    "Time a webhook endpoint took to answer a delivery.",
		Buckets: prometheus.ExponentialBuckets(0.005, 3, 10),
	})

	logEntriesDesc = prometheus.NewDesc("graphsync_changes_log_entries",
		"Entries kept in the change feed (PostgreSQL's estimate), from the database.", nil, nil)
	logBytesDesc = prometheus.NewDesc("graphsync_changes_log_bytes",
		"Size of the change feed on disk, indexes included, from the database.", nil, nil)
	logOldestDesc = prometheus.NewDesc("graphsync_changes_oldest_age_seconds",
		"Age of the oldest entry kept in the change feed (0 when empty), from the database.", nil, nil)
	logWrittenDesc = prometheus.NewDesc("graphsync_changes_written_total",
		"Entries ever written to the change feed (its sequence), from the database: rate() is changes per second.", nil, nil)
	endpointsDesc = prometheus.NewDesc("graphsync_webhook_endpoints",
		"Registered webhook endpoints, from the database.", nil, nil)
	pendingDesc = prometheus.NewDesc("graphsync_webhook_pending_changes",
		"Changes a webhook endpoint has yet to receive, by endpoint id, from the database.", []string{"endpoint"}, nil)
	lagDesc = prometheus.NewDesc("graphsync_webhook_lag_seconds",
		"Age of the oldest change a webhook endpoint has yet to receive (0 when none), by endpoint id, from the database.", []string{"endpoint"}, nil)
	failingDesc = prometheus.NewDesc("graphsync_webhook_failing_seconds",
		"How long a webhook endpoint's deliveries have failed in a row (0 while they succeed), by endpoint id, from the database.", []string{"endpoint"}, nil)
)

// InitMetrics creates the delivery series at zero, so that rates have data
// before the first delivery.
func InitMetrics() {
	for _, o := range []string{outcomeDelivered, outcomeRejected, outcomeUnreachable, outcomeExpired} {
		deliveries.WithLabelValues(o)
	}
}

// Gauges reads the feed's and the endpoints' gauges from the database at
// scrape time, cached briefly so that many scrapers do not each query it.
type Gauges struct {
	store        *store.Store
	log          *slog.Logger
	ttl, timeout time.Duration

	mu   sync.Mutex
	read time.Time
	last reading
}

type reading struct {
	log       store.ChangeLog
	endpoints []endpointReading
	err       error
}

type endpointReading struct {
	id      int64
	pending store.Pending
	failing time.Duration
}

// NewGauges returns the collector; register it with the worker's registry.
func NewGauges(st *store.Store, log *slog.Logger) *Gauges {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Gauges{store: st, log: log, ttl: 5 * time.Second, timeout: 3 * time.Second}
}

// Describe implements prometheus.Collector.
func (g *Gauges) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{logEntriesDesc, logBytesDesc, logOldestDesc, logWrittenDesc, endpointsDesc, pendingDesc, lagDesc, failingDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (g *Gauges) Collect(ch chan<- prometheus.Metric) {
	r := g.reading()
	if r.err != nil {
		return
	}
	now := time.Now()
	ch <- prometheus.MustNewConstMetric(logEntriesDesc, prometheus.GaugeValue, float64(r.log.Entries))
	ch <- prometheus.MustNewConstMetric(logBytesDesc, prometheus.GaugeValue, float64(r.log.Bytes))
	ch <- prometheus.MustNewConstMetric(logOldestDesc, prometheus.GaugeValue, age(now, r.log.Oldest))
	ch <- prometheus.MustNewConstMetric(logWrittenDesc, prometheus.CounterValue, float64(r.log.Written))
	ch <- prometheus.MustNewConstMetric(endpointsDesc, prometheus.GaugeValue, float64(len(r.endpoints)))
	for _, e := range r.endpoints {
		id := strconv.FormatInt(e.id, 10)
		ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(e.pending.Changes), id)
		ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, age(now, e.pending.Oldest), id)
		ch <- prometheus.MustNewConstMetric(failingDesc, prometheus.GaugeValue, e.failing.Seconds(), id)
	}
}

func age(now, t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return max(0, now.Sub(t).Seconds())
}

func (g *Gauges) reading() reading {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.read.IsZero() && time.Since(g.read) < g.ttl {
		return g.last
	}
	ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
	defer cancel()
	g.last = g.measure(ctx)
	g.read = time.Now()
	if g.last.err != nil {
		g.log.Warn("read change feed gauges", "error", g.last.err)
	}
	return g.last
}

func (g *Gauges) measure(ctx context.Context) reading {
	var r reading
	if r.log, r.err = g.store.ReadChangeLog(ctx); r.err != nil {
		return r
	}
	eps, err := g.store.Webhooks(ctx)
	if err != nil {
		r.err = err
		return r
	}
	for _, ep := range eps {
		e := endpointReading{id: ep.ID}
		if ep.FailingSince != nil {
			e.failing = time.Since(*ep.FailingSince)
		}
		if e.pending, err = g.store.PendingChanges(ctx, ep.Cursor, ep.Filter); err != nil {
			// An endpoint behind retention has no pending count; it is
			// failing, which says more.
			g.log.Debug("count pending changes of webhook endpoint", "endpoint_id", ep.ID, "error", err)
		}
		r.endpoints = append(r.endpoints, e)
	}
	return r
}
