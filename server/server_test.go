package server_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/graphsync/graphsync/internal/pgtest"
	"github.com/graphsync/graphsync/server"
	"github.com/graphsync/graphsync/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestReadyzFailsWhenMigrationsPending: /readyz names pending migrations and
// turns ready once they are applied; /healthz answers all along.
func TestReadyzFailsWhenMigrationsPending(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	st, err := store.Open(t.Context(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	srv, err := server.Start(t.Context(), server.Config{Addr: "127.0.0.1:0", Store: st})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	base := "http://" + srv.Addr()
	code, body := httpGet(t, base+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "migrations pending") || !strings.Contains(body, "001_foundation") {
		t.Errorf("/readyz before migrating: %d %q", code, body)
	}
	if code, _ := httpGet(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d", code)
	}
	if code, metrics := httpGet(t, base+"/metrics"); code != http.StatusOK || !strings.Contains(metrics, "graphsync_database_up 0") {
		t.Errorf("/metrics on an unmigrated database: %d, want graphsync_database_up 0", code)
	}
	if _, err := st.Migrate(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	if code, body := httpGet(t, base+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz after migrating: %d %q", code, body)
	}
}

// TestRequireToken: bearer and basic-auth password accepted, anything else
// refused with a challenge.
func TestRequireToken(t *testing.T) {
	t.Parallel()
	h := server.RequireToken("s3cret-token", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "in") }))
	for _, tt := range []struct {
		name string
		set  func(*http.Request)
		code int
	}{
		{"none", func(*http.Request) {}, 401},
		{"bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer s3cret-token") }, 200},
		{"wrong bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer s3cret-tokeN") }, 401},
		{"prefix", func(r *http.Request) { r.Header.Set("Authorization", "Bearer s3cret") }, 401},
		{"basic", func(r *http.Request) { r.SetBasicAuth("anyone", "s3cret-token") }, 200},
		{"basic wrong", func(r *http.Request) { r.SetBasicAuth("s3cret-token", "x") }, 401},
	} {
		req, _ := http.NewRequest(http.MethodGet, "/riverui/", nil)
		tt.set(req)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tt.code {
			t.Errorf("%s: %d, want %d", tt.name, rec.Code, tt.code)
		}
		if tt.code == 401 && rec.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", tt.name)
		}
	}
	if !server.IsLoopback("127.0.0.1:9464") || !server.IsLoopback("[::1]:1") || !server.IsLoopback("localhost:1") || server.IsLoopback(":9464") || server.IsLoopback("0.0.0.0:1") || server.IsLoopback("10.0.0.1:1") {
		t.Error("IsLoopback misjudges an address")
	}
}
