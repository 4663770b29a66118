package main

import (
	"bufio"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/graphsync/graphsync/internal/logtest"
)

// TestMain lets a test run the real main (exit status included) in a child
// process: the test binary re-executed with GRAPHEMU_RUN_MAIN=1.
func TestMain(m *testing.M) {
	if os.Getenv("GRAPHEMU_RUN_MAIN") == "1" {
		os.Args = append([]string{"graphemu"}, strings.Fields(os.Getenv("GRAPHEMU_ARGS"))...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runMain runs graphemu's main with args in a child process.
func runMain(t *testing.T, args string) (int, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "GRAPHEMU_RUN_MAIN=1", "GRAPHEMU_ARGS="+args)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &exit):
		return exit.ExitCode(), string(out)
	}
	t.Fatalf("run graphemu %s: %v", args, err)
	return 0, ""
}

// -h prints the flags and exits 0; a bad flag exits 2, a bad value 1.
func TestMainExitStatus(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args string
		code int
		want string
	}{
		{"-h", 0, "-addr"},
		{"-help", 0, "-profile"},
		{"-no-such-flag", 2, "flag provided but not defined"},
		{"-addr 127.0.0.1:0 -profile nope", 1, "unknown throttling profile"},
	} {
		code, out := runMain(t, tc.args)
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("graphemu %s: exit %d, want %d; output lacks %q?\n%s", tc.args, code, tc.code, tc.want, out)
		}
	}
}

func TestRunRefusesRemoteAddress(t *testing.T) {
	t.Parallel()
	err := run(context.Background(), []string{"-addr", "0.0.0.0:0"}, &logtest.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "-allow-remote") {
		t.Fatalf("got %v, want a refusal naming -allow-remote", err)
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"-profile", "nope"}, {"-latency", "300ms-100ms"}, {"-notify-scale", "-1"}, {"-users", "2", "-shared-mailboxes", "3"}, {"-cloud", "mars"}, {"-certificate", "/nonexistent/cert.pem"}} {
		if err := run(context.Background(), append([]string{"-addr", "127.0.0.1:0"}, args...), &logtest.Buffer{}); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

func TestRunServesUntilCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	out := &logtest.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-users", "2", "-messages", "3", "-profile", "strict"}, out)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "export GRAPHSYNC_LOGIN_URL=") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []string{"client_id=graphsync-test-client", "user: "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	env := exports(t, out.String())
	for k, re := range map[string]string{
		"GRAPHSYNC_CLIENT_ID":     `^graphsync-test-client$`,
		"GRAPHSYNC_CLIENT_SECRET": `^emulator-secret$`,
		"GRAPHSYNC_TENANT":        `^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`,
		"GRAPHSYNC_REDIRECT_URL":  `^http://localhost:8085/callback$`, // graphsync's default
		"GRAPHSYNC_GRAPH_URL":     `^http://127\.0\.0\.1:\d+$`,
		"GRAPHSYNC_LOGIN_URL":     `^http://127\.0\.0\.1:\d+$`,
	} {
		if !regexp.MustCompile(re).MatchString(env[k]) {
			t.Errorf("export %s=%q, want %s", k, env[k], re)
		}
	}
	// The printed settings are the ones that work: the authorize endpoint
	// accepts the redirect URI and the token endpoint the credentials.
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(env["GRAPHSYNC_LOGIN_URL"] + "/" + env["GRAPHSYNC_TENANT"] + "/oauth2/v2.0/authorize?" + url.Values{
		"client_id": {env["GRAPHSYNC_CLIENT_ID"]}, "response_type": {"code"}, "redirect_uri": {env["GRAPHSYNC_REDIRECT_URL"]},
		"scope": {"offline_access Mail.Read"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, env["GRAPHSYNC_REDIRECT_URL"]+"?code=") {
		t.Errorf("authorize with the printed settings: %d %q", resp.StatusCode, loc)
	}
	resp, err = client.PostForm(env["GRAPHSYNC_LOGIN_URL"]+"/"+env["GRAPHSYNC_TENANT"]+"/oauth2/v2.0/token", url.Values{
		"client_id": {env["GRAPHSYNC_CLIENT_ID"]}, "client_secret": {env["GRAPHSYNC_CLIENT_SECRET"]},
		"grant_type": {"client_credentials"}, "scope": {"https://graph.microsoft.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("client credentials with the printed settings: %d", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop")
	}
}

// exports reads the "export NAME=value" lines of graphemu's output.
func exports(t *testing.T, out string) map[string]string {
	t.Helper()
	env := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "="); ok && strings.HasPrefix(sc.Text(), "export ") {
			env[k] = v
		}
	}
	return env
}

func TestShellQuote(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"http://localhost:8085/callback": "http://localhost:8085/callback",
		"a b":                            "'a b'",
		"it's":                           `'it'\''s'`,
		"":                               "''",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %q, want %q", in, got, want)
		}
	}
}

// -cloud and -certificate: tokens for the cloud's Graph resource, and the
// default app authenticating with a client assertion of the certificate.
func TestRunCloudAndCertificate(t *testing.T) {
	t.Parallel()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "graphemu test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "app.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &logtest.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-users", "1", "-messages", "1", "-cloud", "usgov", "-certificate", path}, out)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "export GRAPHSYNC_LOGIN_URL=") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	env := exports(t, out.String())
	endpoint := env["GRAPHSYNC_LOGIN_URL"] + "/" + env["GRAPHSYNC_TENANT"] + "/oauth2/v2.0/token"
	s256 := sha256.Sum256(der)
	head, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "x5t#S256": base64.RawURLEncoding.EncodeToString(s256[:])})
	claims, _ := json.Marshal(map[string]any{"aud": endpoint, "iss": env["GRAPHSYNC_CLIENT_ID"], "sub": env["GRAPHSYNC_CLIENT_ID"],
		"jti": "j-1", "nbf": time.Now().Unix(), "exp": time.Now().Add(5 * time.Minute).Unix()})
	signing := base64.RawURLEncoding.EncodeToString(head) + "." + base64.RawURLEncoding.EncodeToString(claims)
	digest := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	for scope, want := range map[string]int{"https://graph.microsoft.us/.default": 200, "https://graph.microsoft.com/.default": 400} {
		resp, err := http.PostForm(endpoint, url.Values{"client_id": {env["GRAPHSYNC_CLIENT_ID"]}, "grant_type": {"client_credentials"}, "scope": {scope},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {signing + "." + base64.RawURLEncoding.EncodeToString(sig)}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("client assertion for %s: %d, want %d", scope, resp.StatusCode, want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
}
