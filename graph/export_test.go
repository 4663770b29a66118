package graph

import (
	"encoding/json"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// Hooks for tests in package graphsync_test.

func SetClock(c *Client, now func() time.Time) { c.now = now }

func GateCount(c *Client) int { return c.gates.len() }

func SetBackoff(c *Client, base, max time.Duration) { c.backoffBase, c.backoffMax = base, max }

func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) { return parseRetryAfter(v, now) }

func SplitPage(body []byte) (items []json.RawMessage, next, delta string, err error) {
	pb, err := splitPage(body)
	return pb.Value, pb.NextLink, pb.DeltaLink, err
}

// RequestsCounted is graphsync_graph_requests_total for one label set.
func RequestsCounted(resource, method, class string) float64 {
	var m dto.Metric
	if err := requestsTotal.WithLabelValues(resource, method, class).Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}
