package server

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/jobs"
	"github.com/graphsync/graphsync/store"
)

// Gauges computes gauges from the database at scrape time: connections by
// status, sync lag per resource, River's backlog per queue and state,
// quarantined records, and change-notification subscriptions. Every worker exports the same values, so dashboards
// take max() across instances. Results are cached briefly so that many
// scrapers do not each query PostgreSQL.
type Gauges struct {
	store        *store.Store
	log          *slog.Logger
	secretExpiry time.Time
	ttl, timeout time.Duration

	mu      sync.Mutex
	read    time.Time
	health  *store.Health
	readErr error
}

// GaugesConfig configures NewGauges.
type GaugesConfig struct {
	Store  *store.Store
	Logger *slog.Logger
	// SecretExpiresAt is when the app's client secret expires; zero when
	// the operator did not say.
	SecretExpiresAt time.Time
	// CacheFor is how long a reading is reused (default 5 s).
	CacheFor time.Duration
	// Timeout bounds the queries of one reading (default 3 s).
	Timeout time.Duration
}

var (
	connectionsDesc = prometheus.NewDesc("graphsync_connections",
		"Connections by status (active, needs_reauth, needs_admin, disabled), from the database.", []string{"status"}, nil)
	lagDesc = prometheus.NewDesc("graphsync_sync_lag_seconds",
		"Age of the oldest last successful sync among active connections, by resource (from connection creation when never synced).", []string{"resource"}, nil)
	riverJobsDesc = prometheus.NewDesc("graphsync_river_jobs",
		"River jobs waiting or running, by queue and state (available, pending, retryable, running, scheduled), from the database.", []string{"queue", "state"}, nil)
	quarantineDesc = prometheus.NewDesc("graphsync_quarantine_records",
		"Records in quarantine (Graph sent them but they could not be stored), by resource, from the database.", []string{"resource"}, nil)
	databaseUpDesc = prometheus.NewDesc("graphsync_database_up",
		"1 when the last reading of the database gauges succeeded, 0 otherwise.", nil, nil)
	subscriptionsDesc = prometheus.NewDesc("graphsync_subscriptions",
		"Change-notification subscriptions by status (pending, active, failed, missing_scope, limit_reached), from the database.", []string{"status"}, nil)
	subscriptionExpiryDesc = prometheus.NewDesc("graphsync_subscription_expiry_seconds",
		"Time left until the soonest-expiring active change-notification subscription of a resource ends; renewal is due at half the lifetime.", []string{"resource"}, nil)
	budgetFillDesc = prometheus.NewDesc("graphsync_tenant_budget_fill_min",
		"Fill (0 to 1) of the emptiest tenant budget of each service (teams, onedrive, directory) every worker draws from, from the database; near 0, some tenant's requests wait on their budget.", []string{"service"}, nil)
	secretExpiryDesc = prometheus.NewDesc("graphsync_client_secret_expiry_timestamp_seconds",
		"When the app's client secret expires (Unix time), from GRAPHSYNC_CLIENT_SECRET_EXPIRES_AT.", nil, nil)
)

var (
	connectionStatuses = store.Statuses
	backlogStates      = []string{"available", "pending", "retryable", "running", "scheduled"}
)

// NewGauges returns the collector; register it with the worker's registry.
func NewGauges(cfg GaugesConfig) *Gauges {
	g := &Gauges{store: cfg.Store, log: cfg.Logger, secretExpiry: cfg.SecretExpiresAt, ttl: cfg.CacheFor, timeout: cfg.Timeout}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.ttl <= 0 {
		g.ttl = 5 * time.Second
	}
	if g.timeout <= 0 {
		g.timeout = 3 * time.Second
	}
	return g
}

// Describe implements prometheus.Collector.
func (g *Gauges) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{connectionsDesc, lagDesc, riverJobsDesc, quarantineDesc, databaseUpDesc, secretExpiryDesc,
		subscriptionsDesc, subscriptionExpiryDesc, budgetFillDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (g *Gauges) Collect(ch chan<- prometheus.Metric) {
	if !g.secretExpiry.IsZero() {
		ch <- prometheus.MustNewConstMetric(secretExpiryDesc, prometheus.GaugeValue, float64(g.secretExpiry.Unix()))
	}
	h, err := g.reading()
	if err != nil {
		ch <- prometheus.MustNewConstMetric(databaseUpDesc, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(databaseUpDesc, prometheus.GaugeValue, 1)
	for _, s := range connectionStatuses {
		ch <- prometheus.MustNewConstMetric(connectionsDesc, prometheus.GaugeValue, float64(h.Connections[s]), s)
	}
	for r, lag := range h.Lag {
		ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, lag.Seconds(), r)
	}
	backlog := map[[2]string]int64{}
	for q := range jobs.JobKinds {
		for _, s := range backlogStates {
			backlog[[2]string{q, s}] = 0
		}
	}
	for _, jc := range h.Jobs {
		backlog[[2]string{jc.Queue, jc.State}] = jc.N
	}
	for k, n := range backlog {
		ch <- prometheus.MustNewConstMetric(riverJobsDesc, prometheus.GaugeValue, float64(n), k[0], k[1])
	}
	quarantined := map[string]int64{}
	for _, r := range graphsync.All() {
		quarantined[r.Name()] = 0
	}
	for r, n := range h.Quarantined {
		quarantined[r] = n
	}
	for r, n := range quarantined {
		ch <- prometheus.MustNewConstMetric(quarantineDesc, prometheus.GaugeValue, float64(n), r)
	}
	for _, s := range store.SubscriptionStatuses {
		ch <- prometheus.MustNewConstMetric(subscriptionsDesc, prometheus.GaugeValue, float64(h.Subscriptions[s]), s)
	}
	for r, left := range h.SubscriptionExpiry {
		ch <- prometheus.MustNewConstMetric(subscriptionExpiryDesc, prometheus.GaugeValue, left.Seconds(), r)
	}
	for svc, fill := range h.BudgetFill {
		ch <- prometheus.MustNewConstMetric(budgetFillDesc, prometheus.GaugeValue, fill, svc)
	}
}

// reading returns the cached reading, or a new one when it is older than
// the cache period. Concurrent scrapes wait for one query.
func (g *Gauges) reading() (*store.Health, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.read.IsZero() && time.Since(g.read) < g.ttl {
		return g.health, g.readErr
	}
	ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
	defer cancel()
	g.health, g.readErr = g.store.ReadHealth(ctx, graphsync.Names(graphsync.All()))
	g.read = time.Now()
	if g.readErr != nil {
		g.log.Warn("read database gauges", "error", g.readErr)
	}
	return g.health, g.readErr
}
