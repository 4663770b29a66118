package token

import (
	"errors"
	"net"
	"net/url"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics of the token lifecycle. Labels are bounded: outcomes only.
var (
	refreshes = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "graphsync_token_refreshes_total",
		Help: "Access-token refreshes by outcome (ok, skipped, invalid_grant, needs_admin, invalid_client, network, error).",
	}, []string{"outcome"})
	appCredentialsOK = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "graphsync_app_credentials_ok",
		Help: "0 after the identity platform refused the app's client id or secret, until it next issues a token; 1 otherwise.",
	})
)

// refreshOutcomes are created at zero, so that rates and alert expressions
// have data before the first event.
var refreshOutcomes = []string{"ok", "skipped", "invalid_grant", "needs_admin", "invalid_client", "network", "error"}

func init() {
	appCredentialsOK.Set(1)
	for _, o := range refreshOutcomes {
		refreshes.WithLabelValues(o)
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
