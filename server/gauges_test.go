package server_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/pgtest"
	"github.com/graphsync/graphsync/server"
	"github.com/graphsync/graphsync/store"
)

// The database gauges count the tenant-level resources as they count a
// mailbox's: an application connection's sites and groups, and its user
// discovery, have a sync lag from their own stream (no user), and every
// resource has a quarantine gauge, at 0 until a record of it is
// quarantined.
func TestGaugesCountTenantResources(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := pgtest.Store(t)
	cn, err := st.SaveConnection(ctx, &store.Connection{Kind: store.KindApplication, TenantID: "tenant-g",
		Resources: []*graphsync.Resource{graphsync.Sites, graphsync.Groups}}, store.Tokens{AccessToken: "a"})
	if err != nil {
		t.Fatal(err)
	}
	// Groups synced just now, sites a day ago; user discovery never did.
	for _, r := range []*graphsync.Resource{graphsync.Groups, graphsync.Sites} {
		if err := st.FinishRounds(ctx, []store.Finish{{Stream: graphsync.Stream{Connection: cn.ID, Resource: r}}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Pool().Exec(ctx, `UPDATE sync_state SET last_success_at = now() - interval '1 day'
		WHERE connection_id = $1 AND resource = 'sites'`, cn.ID); err != nil {
		t.Fatal(err)
	}
	library := graphsync.Stream{Connection: cn.ID, Resource: graphsync.Sites, Container: graphsync.LibraryStream("b!lib")}
	if err := st.InTx(ctx, func(tx store.Tx) error {
		return st.QuarantineTx(ctx, tx, library, "item-1", "createdDateTime is not a time", []byte(`{"id":"item-1"}`))
	}); err != nil {
		t.Fatal(err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(server.NewGauges(server.GaugesConfig{Store: st}))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	gauge := func(name, resource string) (float64, bool) {
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "resource" && l.GetValue() == resource {
						return m.GetGauge().GetValue(), true
					}
				}
			}
		}
		return 0, false
	}
	for _, c := range []struct {
		resource string
		min, max time.Duration
	}{
		{"groups", 0, time.Minute},
		{"sites", 23 * time.Hour, 25 * time.Hour},
		{"users", 0, time.Minute}, // never synced: since the connection was created
	} {
		lag, ok := gauge("graphsync_sync_lag_seconds", c.resource)
		if d := time.Duration(lag * float64(time.Second)); !ok || d < c.min || d > c.max {
			t.Errorf("graphsync_sync_lag_seconds{resource=%q} = %v (reported %v), want between %s and %s", c.resource, d, ok, c.min, c.max)
		}
	}
	if _, ok := gauge("graphsync_sync_lag_seconds", "mail"); ok {
		t.Error("graphsync_sync_lag_seconds reports mail, which no connection enables")
	}
	for resource, want := range map[string]float64{"sites": 1, "groups": 0, "mail": 0} {
		if n, ok := gauge("graphsync_quarantine_records", resource); !ok || n != want {
			t.Errorf("graphsync_quarantine_records{resource=%q} = %v (reported %v), want %v", resource, n, ok, want)
		}
	}
}
