// Package promtest runs a real Prometheus server for tests: it scrapes
// targets on loopback, evaluates rule files, and answers PromQL through its
// HTTP API. The binaries come from PATH, or from Debian's prometheus package,
// installed when they are missing and the process is root.
package promtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/graphsync/graphsync/internal/loopback"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	installOnce sync.Once
	installErr  error
)

// Binaries returns the paths of prometheus and promtool, installing Debian's
// prometheus package when they are missing and this process is root. It
// skips the test, loudly, only when they cannot be had.
func Binaries(t testing.TB) (prometheus, promtool string) {
	t.Helper()
	installOnce.Do(func() { installErr = install() })
	if installErr != nil {
		t.Skipf("SKIPPED: NO PROMETHEUS: %v. Install Debian's prometheus package (apt-get install prometheus) to run this test.", installErr)
	}
	prometheus, _ = exec.LookPath("prometheus")
	promtool, _ = exec.LookPath("promtool")
	return prometheus, promtool
}

func install() error {
	if have() {
		return nil
	}
	if os.Geteuid() != 0 {
		return errors.New("prometheus and promtool are not on PATH and this process is not root")
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return errors.New("prometheus and promtool are not on PATH and there is no apt-get")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	for _, args := range [][]string{{"update"}, {"install", "-y", "--no-install-recommends", "prometheus"}} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("apt-get %s: %w: %s", args[0], err, tail(string(out), 10))
		}
	}
	if !have() {
		return errors.New("installed Debian's prometheus package but prometheus or promtool is still not on PATH")
	}
	return nil
}

func have() bool {
	_, err1 := exec.LookPath("prometheus")
	_, err2 := exec.LookPath("promtool")
	return err1 == nil && err2 == nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Options configures Start.
type Options struct {
	// Job is the scrape job's name (the job label).
	Job string
	// Targets are host:port addresses on loopback serving /metrics.
	Targets []string
	// Rules is the content of one rule file, or empty.
	Rules []byte
	// Interval is the scrape and rule evaluation interval (default 1 s).
	Interval time.Duration
}

// Server is a running Prometheus, stopped by the test's cleanup.
type Server struct {
	URL string
	dir string
}

// Start runs Prometheus on a free loopback port and waits until it is ready.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	bin, _ := Binaries(t)
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.Job == "" {
		opts.Job = "test"
	}
	dir := t.TempDir()
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "global:\n  scrape_interval: %s\n  scrape_timeout: %s\n  evaluation_interval: %s\n",
		opts.Interval, opts.Interval, opts.Interval)
	if len(opts.Rules) > 0 {
		if err := os.WriteFile(filepath.Join(dir, "rules.yml"), opts.Rules, 0o600); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&cfg, "rule_files:\n  - %q\n", filepath.Join(dir, "rules.yml"))
	}
	fmt.Fprintf(&cfg, "scrape_configs:\n  - job_name: %q\n    static_configs:\n      - targets:\n", opts.Job)
	for _, tg := range opts.Targets {
		fmt.Fprintf(&cfg, "          - %q\n", tg)
	}
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	logf, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin,
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--storage.tsdb.retention.time=1h",
		"--log.level=warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logf.Close()
	})
	s := &Server{URL: "http://" + addr, dir: dir}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case <-done:
			t.Fatalf("prometheus exited at start:\n%s", s.Log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready after 30 s:\n%s", s.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Log returns what Prometheus has logged so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "prometheus.log"))
	return tail(string(b), 40)
}

func freeAddr(t testing.TB) string {
	t.Helper()
	addr, err := loopback.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// Sample is one series of an instant query's result.
type Sample struct {
	Metric map[string]string
	Value  string
}

// Query evaluates expr as an instant query now.
func (s *Server) Query(ctx context.Context, expr string) ([]Sample, error) {
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := s.get(ctx, "/api/v1/query?query="+url.QueryEscape(expr), &data); err != nil {
		return nil, fmt.Errorf("query %s: %w", expr, err)
	}
	switch data.ResultType {
	case "vector":
		var vec []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		if err := json.Unmarshal(data.Result, &vec); err != nil {
			return nil, fmt.Errorf("query %s: %w", expr, err)
		}
		out := make([]Sample, len(vec))
		for i, v := range vec {
			out[i] = Sample{Metric: v.Metric, Value: fmt.Sprint(v.Value[1])}
		}
		return out, nil
	case "scalar":
		var v [2]any
		if err := json.Unmarshal(data.Result, &v); err != nil {
			return nil, fmt.Errorf("query %s: %w", expr, err)
		}
		return []Sample{{Value: fmt.Sprint(v[1])}}, nil
	}
	return nil, fmt.Errorf("query %s: result type %q", expr, data.ResultType)
}

// Alert is one alert Prometheus holds.
type Alert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"` // pending or firing
}

// Alerts lists the alerts pending or firing.
func (s *Server) Alerts(ctx context.Context) ([]Alert, error) {
	var data struct {
		Alerts []Alert `json:"alerts"`
	}
	if err := s.get(ctx, "/api/v1/alerts", &data); err != nil {
		return nil, fmt.Errorf("alerts: %w", err)
	}
	return data.Alerts, nil
}

// Target is one scrape target's health.
type Target struct {
	ScrapeURL string `json:"scrapeUrl"`
	Health    string `json:"health"`
	LastError string `json:"lastError"`
}

// Targets lists the active scrape targets.
func (s *Server) Targets(ctx context.Context) ([]Target, error) {
	var data struct {
		ActiveTargets []Target `json:"activeTargets"`
	}
	if err := s.get(ctx, "/api/v1/targets", &data); err != nil {
		return nil, fmt.Errorf("targets: %w", err)
	}
	return data.ActiveTargets, nil
}

func (s *Server) get(ctx context.Context, path string, data any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, tail(string(body), 5))
	}
	if env.Status != "success" {
		return fmt.Errorf("prometheus: %s", env.Error)
	}
	return json.Unmarshal(env.Data, data)
}

// CheckRules runs promtool check rules on a file.
func CheckRules(t testing.TB, path string) {
	t.Helper()
	_, promtool := Binaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, promtool, "check", "rules", path).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules %s: %v\n%s", path, err, out)
	}
}
