package server_test

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/graphsync/graphsync/internal/pgtest"
	"github.com/graphsync/graphsync/jobs"
	"github.com/graphsync/graphsync/server"
)

// River UI, token or not, answers only requests naming the worker's
// address in Host (a DNS-rebound page reaching a loopback worker names its
// own), and refuses state-changing requests from another origin; requests
// without browser headers (curl, scripts) go through.
func TestRiverUIRefusesForeignHostsAndCrossSiteWrites(t *testing.T) {
	t.Parallel()
	st := pgtest.Store(t)
	client, err := river.NewClient(st.RiverDriver(), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, token := range []string{"", "ui-s3cret"} {
		srv, err := server.Start(t.Context(), server.Config{Addr: "127.0.0.1:0", Store: st, River: client, UIToken: token})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		_, port, _ := net.SplitHostPort(srv.Addr())
		res, err := client.Insert(t.Context(), jobs.SyncArgs{ConnectionID: 424242}, &river.InsertOpts{Queue: "nowhere"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.JobCancel(t.Context(), res.Job.ID); err != nil {
			t.Fatal(err)
		}
		retry := `{"ids":["` + strconv.FormatInt(res.Job.ID, 10) + `"]}`
		send := func(method, path, host, body string, headers ...string) (int, string) {
			t.Helper()
			req, err := http.NewRequest(method, "http://"+srv.Addr()+path, strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Host = host
			for i := 0; i+1 < len(headers); i += 2 {
				req.Header.Set(headers[i], headers[i+1])
			}
			if token != "" {
				req.SetBasicAuth("admin", token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		state := func() rivertype.JobState {
			j, err := client.JobGet(t.Context(), res.Job.ID)
			if err != nil {
				t.Fatal(err)
			}
			return j.State
		}
		for _, tc := range []struct {
			name, method, path, host, body string
			headers                        []string
			want                           int
		}{
			{"foreign host reads", "GET", "/riverui/api/jobs?state=cancelled", "evil.example:" + port, "", nil, 403},
			{"foreign host writes", "POST", "/riverui/api/jobs/retry", "evil.example:" + port, retry,
				[]string{"Content-Type", "text/plain", "Origin", "http://evil.example:" + port}, 403},
			{"foreign port", "GET", "/riverui/api/jobs?state=cancelled", "127.0.0.1:1", "", nil, 403},
			{"cross-site write by Origin", "POST", "/riverui/api/jobs/retry", "127.0.0.1:" + port, retry,
				[]string{"Content-Type", "text/plain", "Origin", "http://evil.example"}, 403},
			{"cross-site write by Sec-Fetch-Site", "POST", "/riverui/api/jobs/retry", "localhost:" + port, retry,
				[]string{"Content-Type", "text/plain", "Sec-Fetch-Site", "cross-site"}, 403},
			{"own host reads", "GET", "/riverui/api/jobs?state=cancelled", "localhost:" + port, "", nil, 200},
		} {
			code, body := send(tc.method, tc.path, tc.host, tc.body, tc.headers...)
			if code != tc.want {
				t.Errorf("token %q, %s: %d %.200s, want %d", token, tc.name, code, body, tc.want)
			}
			if s := state(); s != rivertype.JobStateCancelled {
				t.Fatalf("token %q, %s: the job became %s", token, tc.name, s)
			}
		}
		// Same origin, or no browser at all: the write goes through.
		if code, body := send("POST", "/riverui/api/jobs/retry", "127.0.0.1:"+port, retry, "Content-Type", "application/json",
			"Origin", "http://127.0.0.1:"+port); code != 200 || state() == rivertype.JobStateCancelled {
			t.Errorf("token %q: same-origin retry: %d %.200s, job %s", token, code, body, state())
		}
	}
}

// The profiling listener never serves the command line, which may hold
// secrets given as flags.
func TestPprofHidesTheCommandLine(t *testing.T) {
	t.Parallel()
	srv, err := server.StartPprof("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	code, body := httpGet(t, "http://"+srv.Addr()+"/debug/pprof/cmdline")
	if code != http.StatusNotFound || strings.Contains(body, "server.test") {
		t.Fatalf("/debug/pprof/cmdline: %d %q", code, body)
	}
	if code, _ := httpGet(t, "http://"+srv.Addr()+"/debug/pprof/goroutine?debug=1"); code != http.StatusOK {
		t.Fatalf("/debug/pprof/goroutine: %d", code)
	}
}
