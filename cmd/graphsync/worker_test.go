package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/graphsync/graphsync/connect"
	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graph"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/identity"
	"github.com/graphsync/graphsync/internal/config"
	"github.com/graphsync/graphsync/internal/logtest"
	"github.com/graphsync/graphsync/internal/promtest"
	"github.com/graphsync/graphsync/store"
)

func freeTCPAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// httpGet fetches url with an optional Authorization header value.
func httpGet(t *testing.T, url, auth string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// workerBundle is a worker running in-process against the emulator, with
// every emulated user connected.
type workerBundle struct {
	*testBundle
	em    *emulator.Server
	st    *store.Store
	conns []*store.Connection
	addr  string
	logs  *logtest.Buffer
	done  chan error
	stop  context.CancelFunc
}

const (
	workerClientID = "graphsync-ops"
	workerSecret   = "ops-client-secret-value"
	workerUIToken  = "ops-ui-token-value"
)

func startWorker(t *testing.T, ecfg emulator.Config, extraEnv map[string]string) *workerBundle {
	t.Helper()
	return startWorkerWith(t, ecfg, extraEnv, graphsync.Resources)
}

// startWorkerWith is startWorker with every user connected for resources.
func startWorkerWith(t *testing.T, ecfg emulator.Config, extraEnv map[string]string, resources []*graphsync.Resource) *workerBundle {
	t.Helper()
	w := connectEmulated(t, ecfg, extraEnv, resources)
	w.startProcess(t)
	return w
}

// connectEmulated starts an emulator and connects its users for resources,
// with an environment pointing graphsync at both; no worker runs yet.
func connectEmulated(t *testing.T, ecfg emulator.Config, extraEnv map[string]string, resources []*graphsync.Resource) *workerBundle {
	t.Helper()
	b := setup(t)
	redirect, err := connect.LoopbackRedirect("/callback")
	if err != nil {
		t.Fatal(err)
	}
	ecfg.Apps = []emulator.App{{ClientID: workerClientID, Secret: workerSecret, RedirectURIs: []string{redirect}}}
	em, err := emulator.Start(ecfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { em.Close() })

	w := &workerBundle{testBundle: b, em: em, st: b.store(), addr: freeTCPAddr(t), logs: &logtest.Buffer{}, done: make(chan error, 1)}
	maps.Copy(b.env, map[string]string{
		"GRAPHSYNC_CLIENT_ID":     workerClientID,
		"GRAPHSYNC_CLIENT_SECRET": workerSecret,
		"GRAPHSYNC_GRAPH_URL":     em.URL(),
		"GRAPHSYNC_LOGIN_URL":     em.URL(),
		"GRAPHSYNC_REDIRECT_URL":  redirect,
		"GRAPHSYNC_HTTP_ADDR":     w.addr,
		"GRAPHSYNC_UI_TOKEN":      workerUIToken,
		"GRAPHSYNC_LOG_LEVEL":     "debug",
	})
	maps.Copy(b.env, extraEnv)

	gc, err := graph.NewClient(graph.Config{BaseURL: em.URL()})
	if err != nil {
		t.Fatal(err)
	}
	auth := identity.Config{LoginURL: em.URL(), Tenant: "common", ClientID: workerClientID, ClientSecret: workerSecret, RedirectURL: redirect}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, u := range em.Users() {
		conn, err := connect.Headless(ctx, connect.Config{Store: w.st, Graph: gc, Auth: auth, Resources: resources,
			LoginHint: u.UserPrincipalName})
		if err != nil {
			t.Fatalf("connect %s: %v", u.UserPrincipalName, err)
		}
		w.conns = append(w.conns, conn)
	}
	return w
}

// startProcess runs `graphsync worker` in-process until the test ends, and
// waits until it is ready.
func (w *workerBundle) startProcess(t *testing.T) {
	t.Helper()
	b := w.testBundle
	wctx, stop := context.WithCancel(context.Background())
	w.stop = stop
	m := &Main{Getenv: func(k string) string { return b.env[k] }, Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: w.logs}
	go func() { w.done <- m.Run(wctx, []string{"worker", "--sync-workers", "8"}) }()
	t.Cleanup(func() {
		stop()
		select {
		case <-w.done:
		case <-time.After(45 * time.Second):
			t.Errorf("worker did not stop within 45 s")
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-w.done:
			t.Fatalf("worker exited: %v\n%s", err, w.logs)
		default:
		}
		if resp, err := http.Get("http://" + w.addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker not ready after 30 s:\n%s", w.logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitSynced waits until every connection's resources have synced at least
// once and no sync job is left.
func (w *workerBundle) waitSynced(t *testing.T, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var unsynced, active int
		err := w.st.Pool().QueryRow(context.Background(), `SELECT
			(SELECT count(*) FROM connections c CROSS JOIN LATERAL unnest(c.resources) r(resource)
				LEFT JOIN sync_state s ON s.connection_id = c.id AND s.resource = r.resource AND s.stream = ''
				WHERE c.status = 'active' AND s.last_success_at IS NULL),
			(SELECT count(*) FROM river_job WHERE kind = 'graphsync_sync' AND state IN ('available', 'running', 'retryable', 'scheduled', 'pending'))`).Scan(&unsynced, &active)
		if err != nil {
			t.Fatal(err)
		}
		if unsynced == 0 && active == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s, %d resources never synced and %d sync jobs active", timeout, unsynced, active)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestDashboardsAgainstPrometheus runs a worker syncing the emulator, scraped
// every second by a real Prometheus loaded with the shipped alert rules, and
// checks that every dashboard and alert expression has data, that the rules
// for re-authentication, throttling and the expiring secret fire, that the
// dashboards name only exported metrics, and that no secret reaches the logs
// or /metrics.
func TestDashboardsAgainstPrometheus(t *testing.T) {
	t.Parallel()
	promtest.Binaries(t)
	promtest.CheckRules(t, "../../dashboards/alerts.yml")
	rulesYAML, err := os.ReadFile("../../dashboards/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	dashboard, err := os.ReadFile("../../dashboards/graphsync.json")
	if err != nil {
		t.Fatal(err)
	}
	ruleExprs := alertExprs(t, rulesYAML)
	panelExprs := dashboardExprs(t, dashboard)

	expires := time.Now().Add(10 * 24 * time.Hour).UTC().Format(time.RFC3339)
	notifyAddr := freeTCPAddr(t)
	w := startWorker(t, emulator.Config{Seed: 3, Users: 2, MessagesPerUser: 40},
		map[string]string{"GRAPHSYNC_CLIENT_SECRET_EXPIRES_AT": expires, "GRAPHSYNC_LOG_FORMAT": "json",
			"GRAPHSYNC_NOTIFY_ADDR": notifyAddr, "GRAPHSYNC_NOTIFY_URL": "http://" + notifyAddr})

	// The shipped rules, with their `for` durations shortened so that a test
	// can see them fire.
	shortRules := regexp.MustCompile(`(?m)^(\s+for:) .*$`).ReplaceAll(rulesYAML, []byte("$1 1s"))
	prom := promtest.Start(t, promtest.Options{Job: "graphsync", Targets: []string{w.addr}, Rules: shortRules})

	// Webhook endpoints: one that accepts every delivery, and one whose
	// port refuses them, failing for long enough to alert.
	hook := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(hook.Close)
	dead := freeTCPAddr(t)
	var hookSecrets []string
	for _, url := range []string{hook.URL + "/hook", "http://" + dead + "/hook"} {
		code, out, errOut := w.run("webhooks", "add", url, "--from", "start")
		wantCode(t, code, 0, out, errOut)
		_, secret, _ := strings.Cut(strings.TrimSpace(out), "with it): ")
		hookSecrets = append(hookSecrets, secret)
	}
	if _, err := w.st.Pool().Exec(context.Background(), `UPDATE webhook_endpoints SET failing_since = now() - interval '20 minutes' WHERE url LIKE $1`, "%"+dead+"%"); err != nil {
		t.Fatal(err)
	}

	w.waitSynced(t, 90*time.Second)
	// The API for apps is served, and refuses a request without a key (a
	// series for its requests panel).
	if code, _ := httpGet(t, "http://"+w.addr+"/v1/changes", ""); code != http.StatusUnauthorized {
		t.Errorf("API request without a key: %d, want 401", code)
	}
	// Change notifications: every notifiable resource subscribed, then a
	// change reaches the rows through one.
	for start := time.Now(); ; time.Sleep(200 * time.Millisecond) {
		subs, err := w.st.Subscriptions(context.Background(), 0)
		if err != nil {
			t.Fatal(err)
		}
		active := 0
		for _, s := range subs {
			if s.Status == store.SubscriptionActive {
				active++
			}
		}
		if active > 0 && active == len(subs) {
			break
		}
		if time.Since(start) > time.Minute {
			t.Fatalf("%d of %d subscriptions active after a minute: %+v", active, len(subs), subs)
		}
	}

	// Revoke one user's grant and expire its access token: the next sync
	// refreshes, is refused, and the connection needs re-authentication.
	revoked := w.conns[0]
	w.em.RevokeGrant(revoked.UserID)
	if _, err := w.st.Pool().Exec(context.Background(), `UPDATE connections SET access_token_expires_at = now() WHERE id = $1`, revoked.ID); err != nil {
		t.Fatal(err)
	}
	// Throttle every mailbox hard and give the syncs work to do.
	w.em.SetThrottle(emulator.Throttle{Outlook: emulator.OutlookLimits{Requests: 2, Window: 5 * time.Second, Concurrent: 4}})
	w.em.Mutate(40)
	code, out, errOut := w.run("sync")
	wantCode(t, code, 0, out, errOut)

	ctx := context.Background()
	want := []string{"GraphsyncConnectionsNeedReauth", "GraphsyncThrottlingSustained", "GraphsyncClientSecretExpiring", "GraphsyncWebhookFailing"}
	deadline := time.Now().Add(90 * time.Second)
	var firing []string
	for {
		alerts, err := prom.Alerts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		firing = firing[:0]
		for _, a := range alerts {
			if a.State == "firing" {
				firing = append(firing, a.Labels["alertname"])
				if !strings.Contains(a.Annotations["runbook_url"], "docs/operations.md#"+strings.ToLower(a.Labels["alertname"])) {
					t.Errorf("alert %s has runbook_url %q, not its paragraph of docs/operations.md", a.Labels["alertname"], a.Annotations["runbook_url"])
				}
			}
		}
		if !slices.ContainsFunc(want, func(n string) bool { return !slices.Contains(firing, n) }) {
			break
		}
		if time.Now().After(deadline) {
			targets, _ := prom.Targets(ctx)
			t.Fatalf("alerts firing after 90 s: %v; want %v; targets %+v\nprometheus log:\n%s", firing, want, targets, prom.Log())
		}
		time.Sleep(time.Second)
	}

	for name, expr := range panelExprs {
		if res, err := prom.Query(ctx, expr); err != nil || len(res) == 0 {
			t.Errorf("dashboard panel %q: %s returned no data (err %v)", name, expr, err)
		}
	}
	for name, expr := range ruleExprs {
		// A rule's condition holds only when it fires; what it compares
		// must have data whether or not it does.
		lhs := thresholdRe.ReplaceAllString(expr, "")
		if lhs == expr {
			t.Errorf("alert %s: %q does not end in a comparison with a threshold", name, expr)
		}
		if res, err := prom.Query(ctx, lhs); err != nil || len(res) == 0 {
			t.Errorf("alert %s: %s returned no data (err %v)", name, lhs, err)
		}
	}

	// Every metric the dashboards name is exported.
	_, metrics := httpGet(t, "http://"+w.addr+"/metrics", "")
	exported := map[string]bool{}
	for _, line := range strings.Split(metrics, "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" {
			exported[f[2]] = true
		}
	}
	var all []string
	for _, e := range panelExprs {
		all = append(all, e)
	}
	for _, e := range ruleExprs {
		all = append(all, e)
	}
	for _, name := range metricNames(all) {
		if !exported[name] {
			t.Errorf("the dashboards name %s, which the worker does not export", name)
		}
	}

	// The River UI is there, and only with the token.
	ui := "http://" + w.addr + "/riverui/"
	if code, _ := httpGet(t, ui, ""); code != http.StatusUnauthorized {
		t.Errorf("River UI without a token: %d, want 401", code)
	}
	if code, _ := httpGet(t, ui, "Bearer wrong-token"); code != http.StatusUnauthorized {
		t.Errorf("River UI with a wrong token: %d, want 401", code)
	}
	if code, body := httpGet(t, ui, "Bearer "+workerUIToken); code != http.StatusOK || !strings.Contains(body, "<html") {
		t.Errorf("River UI with the bearer token: %d %.200s", code, body)
	}
	req, _ := http.NewRequest(http.MethodGet, ui+"api/jobs?state=completed", nil)
	req.SetBasicAuth("admin", workerUIToken)
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Error(err)
	} else {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "graphsync_sync") {
			t.Errorf("River UI jobs API with basic auth: %d %.300s", resp.StatusCode, body)
		}
	}
	if code, body := httpGet(t, "http://"+w.addr+"/healthz", ""); code != http.StatusOK {
		t.Errorf("/healthz: %d %s", code, body)
	}

	// Logs: JSON lines; a sync's Graph requests name the connection, the
	// resource and Graph's request-id; nothing secret anywhere.
	logs := w.logs.String()
	var requestLines int
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if rec["msg"] == "graph request" && rec["connection_id"] != nil && rec["resource"] != nil && rec["request_id"] != "" && rec["request_id"] != nil {
			requestLines++
		}
	}
	if requestLines == 0 {
		t.Errorf("no debug line of a Graph request names connection_id, resource and request_id")
	}
	secrets := append(w.em.IssuedSecrets(), workerSecret, workerUIToken, w.key)
	secrets = append(secrets, hookSecrets...)
	if len(secrets) < 10 {
		t.Fatalf("the emulator issued only %d secrets; the scan proves little", len(secrets))
	}
	for _, s := range secrets {
		if len(s) < 8 {
			continue
		}
		if strings.Contains(logs, s) {
			t.Errorf("the worker's log contains a secret (%.6s…)", s)
		}
		if strings.Contains(metrics, s) {
			t.Errorf("/metrics contains a secret (%.6s…)", s)
		}
	}
}

// thresholdRe matches the comparison ending an alert expression.
var thresholdRe = regexp.MustCompile(`\s*(>|<|>=|<=|==|!=)\s*[0-9.e+* ]+$`)

// alertExprs reads each rule's alert name and expr from the rules file; the
// file is kept to one-line expressions so this needs no YAML parser.
func alertExprs(t *testing.T, rules []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	var name string
	for _, line := range strings.Split(string(rules), "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "- alert: "); ok {
			name = v
		}
		if v, ok := strings.CutPrefix(line, "expr: "); ok {
			if name == "" {
				t.Fatalf("expr before any alert name: %s", line)
			}
			out[name] = v
			name = ""
		}
	}
	if len(out) < 6 {
		t.Fatalf("found %d alert rules in dashboards/alerts.yml", len(out))
	}
	return out
}

// dashboardExprs returns every panel target's expression by panel title.
func dashboardExprs(t *testing.T, dashboard []byte) map[string]string {
	t.Helper()
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(dashboard, &d); err != nil {
		t.Fatalf("dashboards/graphsync.json: %v", err)
	}
	out := map[string]string{}
	for _, p := range d.Panels {
		for i, tg := range p.Targets {
			out[fmt.Sprintf("%s/%d", p.Title, i)] = tg.Expr
		}
	}
	if len(out) < 10 {
		t.Fatalf("found %d panel expressions in dashboards/graphsync.json", len(out))
	}
	return out
}

var metricNameRe = regexp.MustCompile(`\b(?:graphsync|river)_[a-z0-9_]+`)

// metricNames lists the metric names in PromQL expressions, without the
// _bucket, _sum and _count series suffixes of histograms.
var quotedRe = regexp.MustCompile(`"[^"]*"`)

func metricNames(exprs []string) []string {
	seen := map[string]bool{}
	for _, e := range exprs {
		// Label values may name things too (a job kind): not metrics.
		e = quotedRe.ReplaceAllString(e, `""`)
		for _, m := range metricNameRe.FindAllString(e, -1) {
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				m = strings.TrimSuffix(m, suf)
			}
			seen[m] = true
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

func TestMetricNames(t *testing.T) {
	t.Parallel()
	got := metricNames([]string{`histogram_quantile(0.9, sum by (le) (rate(graphsync_sync_duration_seconds_bucket[5m]))) + river_x_count`, `graphsync_records_total{action="x", kind!="graphsync_webhook"}`})
	want := []string{"graphsync_records_total", "graphsync_sync_duration_seconds", "river_x"}
	if !slices.Equal(got, want) {
		t.Errorf("metricNames = %v, want %v", got, want)
	}
}

// TestWorkerRefusesUnprotectedRiverUI: River UI off loopback needs a token.
func TestWorkerRefusesUnprotectedRiverUI(t *testing.T) {
	t.Parallel()
	b := setup(t)
	env := maps.Clone(b.env)
	env["GRAPHSYNC_CLIENT_ID"] = workerClientID
	env["GRAPHSYNC_CLIENT_SECRET"] = workerSecret
	env["GRAPHSYNC_HTTP_ADDR"] = "0.0.0.0:0"
	code, out, errOut := runWith(t, env, "worker", "--no-schedule")
	wantCode(t, code, 2, out, errOut)
	wantContains(t, "stderr", errOut, "not a loopback address", "GRAPHSYNC_UI_TOKEN", "GRAPHSYNC_RIVER_UI=false")
	wantNotContains(t, "stderr", out+errOut, workerSecret)
}

// TestOpsSettings: bad values of the operators' settings are named.
func TestOpsSettings(t *testing.T) {
	t.Parallel()
	b := setup(t)
	env := maps.Clone(b.env)
	env["GRAPHSYNC_CLIENT_ID"] = workerClientID
	env["GRAPHSYNC_CLIENT_SECRET"] = workerSecret
	env["GRAPHSYNC_CLIENT_SECRET_EXPIRES_AT"] = "next tuesday"
	env["GRAPHSYNC_RIVER_UI"] = "maybe"
	env["GRAPHSYNC_LOG_FORMAT"] = "xml"
	code, out, errOut := runWith(t, env, "config", "check")
	wantCode(t, code, 2, out, errOut)
	wantContains(t, "config check", out+errOut, `GRAPHSYNC_CLIENT_SECRET_EXPIRES_AT "next tuesday" is neither RFC 3339 nor YYYY-MM-DD`,
		`GRAPHSYNC_RIVER_UI "maybe" is neither true nor false`, `GRAPHSYNC_LOG_FORMAT "xml" is not json, text or auto`)

	env["GRAPHSYNC_CLIENT_SECRET_EXPIRES_AT"] = "2027-03-01"
	env["GRAPHSYNC_RIVER_UI"] = "false"
	env["GRAPHSYNC_LOG_FORMAT"] = "auto"
	code, out, errOut = runWith(t, env, "config", "check")
	wantCode(t, code, 0, out, errOut)
}

// TestLoggerAddsRequestID: an error from Graph logged as an attribute adds
// the request-id of the failing request; auto is JSON off a terminal.
func TestLoggerAddsRequestID(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := newLogger(&config.Config{LogFormat: "auto", LogLevel: "info"}, &buf)
	err := fmt.Errorf("sync mail: %w", &graph.Error{Status: 500, Code: "generalException", RequestID: "req-1234"})
	log.Error("sync failed", "error", err)
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("not one JSON line: %q", buf.String())
	}
	if rec["request_id"] != "req-1234" {
		t.Errorf("request_id = %v in %s", rec["request_id"], buf.String())
	}
	buf.Reset()
	log.With("request_id", "outer").Error("sync failed", "error", err)
	if strings.Count(buf.String(), "request_id") != 1 {
		t.Errorf("request_id repeated: %s", buf.String())
	}
}

// TestRunbooks: every alert rule has a summary and a runbook_url pointing to
// its own paragraph of docs/operations.md.
func TestRunbooks(t *testing.T) {
	t.Parallel()
	rules, err := os.ReadFile("../../dashboards/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	ops, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(rules)
	for name := range alertExprs(t, rules) {
		_, rest, _ := strings.Cut(text, "- alert: "+name+"\n")
		rule, _, _ := strings.Cut(rest, "- alert: ")
		if !strings.Contains(rule, "summary: ") {
			t.Errorf("alert %s has no summary annotation", name)
		}
		if !strings.Contains(rule, "runbook_url: \"https://github.com/graphsync/graphsync/blob/main/docs/operations.md#"+strings.ToLower(name)+"\"") {
			t.Errorf("alert %s has no runbook_url to docs/operations.md#%s", name, strings.ToLower(name))
		}
		if !strings.Contains(string(ops), "\n### "+name+"\n") {
			t.Errorf("docs/operations.md has no runbook paragraph headed ### %s", name)
		}
	}
}
