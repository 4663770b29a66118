package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"maps"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/graphsync/graphsync/internal/pgtest"
)

func TestConfigCheck(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const clientSecret = "s3cr3t-client-value"
	good := maps.Clone(b.env)
	good["GRAPHSYNC_CLIENT_ID"] = "11111111-2222-3333-4444-555555555555"
	good["GRAPHSYNC_CLIENT_SECRET"] = clientSecret
	good["GRAPHSYNC_UI_TOKEN"] = "ui-token-value"

	with := func(changes map[string]string) map[string]string {
		env := maps.Clone(good)
		for k, v := range changes {
			if v == "" {
				delete(env, k)
			} else {
				env[k] = v
			}
		}
		return env
	}
	shortKey := base64.StdEncoding.EncodeToString([]byte("only-sixteen-byt"))
	// A certificate credential expiring in ten days, and one without its key.
	certFile, keyText := certificateFile(t, time.Now().Add(10*24*time.Hour), true)
	bareCert, _ := certificateFile(t, time.Now().Add(10*24*time.Hour), false)

	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		code    int
		want    []string
		secrets []string
	}{
		{"valid", good, nil, 0, []string{"OK", "(set, hidden)", "GRAPHSYNC_TENANT"}, []string{clientSecret, b.key, "ui-token-value"}},
		{"missing key", with(map[string]string{"GRAPHSYNC_ENCRYPTION_KEY": ""}), nil, 2,
			[]string{"1 problem(s)", "GRAPHSYNC_ENCRYPTION_KEY is empty"}, []string{clientSecret}},
		{"malformed key", with(map[string]string{"GRAPHSYNC_ENCRYPTION_KEY": "not*base64*key-material"}), nil, 2,
			[]string{"GRAPHSYNC_ENCRYPTION_KEY: key 1 is not base64"}, []string{"not*base64*key-material", clientSecret}},
		{"short key", with(map[string]string{"GRAPHSYNC_ENCRYPTION_KEY": shortKey}), nil, 2,
			[]string{"GRAPHSYNC_ENCRYPTION_KEY: key 1 is 16 bytes"}, []string{shortKey}},
		{"bad database URL", with(map[string]string{"DATABASE_URL": "postgres://admin:hunter2-pw@localhost:notaport/db"}), nil, 2,
			[]string{"DATABASE_URL is malformed"}, []string{"hunter2-pw", clientSecret, "unreachable"}},
		{"short sync interval", with(map[string]string{"GRAPHSYNC_SYNC_INTERVAL": "5s"}), nil, 2,
			[]string{"GRAPHSYNC_SYNC_INTERVAL 5s is shorter than 10s, the shortest interval the scheduler keeps"}, []string{clientSecret}},
		{"bad budgets", with(map[string]string{"GRAPHSYNC_TEAMS_BUDGET": "fast", "GRAPHSYNC_DRIVE_BUDGET": "1"}), nil, 2,
			[]string{`GRAPHSYNC_TEAMS_BUDGET "fast" is not a whole number of at least 2`, `GRAPHSYNC_DRIVE_BUDGET "1" is not a whole number of at least 2`}, []string{clientSecret}},
		{"bad graph URL", with(map[string]string{"GRAPHSYNC_GRAPH_URL": "ftp://graph.example"}), nil, 2,
			[]string{`GRAPHSYNC_GRAPH_URL "ftp://graph.example" is not an http(s) URL`}, []string{clientSecret}},
		{"flag overrides env", good, []string{"--tenant", "not a tenant"}, 2,
			[]string{`GRAPHSYNC_TENANT "not a tenant"`}, []string{clientSecret}},
		{"missing secret and id", with(map[string]string{"GRAPHSYNC_CLIENT_SECRET": "", "GRAPHSYNC_CLIENT_ID": ""}), nil, 2,
			[]string{"2 problem(s)", "GRAPHSYNC_CLIENT_ID is not set", "GRAPHSYNC_CLIENT_SECRET (or GRAPHSYNC_CLIENT_SECRET_FILE) is not set"}, nil},
		{"certificate instead of a secret", with(map[string]string{"GRAPHSYNC_CLIENT_SECRET": "", "GRAPHSYNC_CLIENT_CERTIFICATE_FILE": certFile}), nil, 0,
			[]string{"OK", "the client certificate expires on", "GRAPHSYNC_CLIENT_CERTIFICATE_FILE"}, []string{keyText}},
		{"certificate without its key", with(map[string]string{"GRAPHSYNC_CLIENT_SECRET": "", "GRAPHSYNC_CLIENT_CERTIFICATE_FILE": bareCert}), nil, 2,
			[]string{"GRAPHSYNC_CLIENT_CERTIFICATE_FILE", "no private key"}, nil},
		{"unmigrated database", with(map[string]string{"DATABASE_URL": pgtest.NewDatabase(t)}), nil, 1,
			[]string{"migration(s) pending", "001_foundation", "graphsync migrate"}, []string{clientSecret}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := runWith(t, tt.env, append([]string{"config", "check"}, tt.args...)...)
			wantCode(t, code, tt.code, out, errOut)
			wantContains(t, "config check output", out, tt.want...)
			wantNotContains(t, "config check output", out+errOut, tt.secrets...)
		})
	}
}

// certificateFile writes a self-signed certificate valid until notAfter,
// with its private key when withKey, to a PEM file, and returns its path
// and a piece of the key's text, which no output may show.
func certificateFile(t *testing.T, notAfter time.Time, withKey bool) (path, keyText string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "graphsync"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if withKey {
		data = append(data, keyPEM...)
	}
	path = filepath.Join(t.TempDir(), "app.pem")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, string(keyPEM[40:100])
}

func TestConfigVarsTable(t *testing.T) {
	t.Parallel()
	code, out, errOut := runWith(t, nil, "config", "vars")
	wantCode(t, code, 0, out, errOut)
	wantContains(t, "config vars", out, "| `DATABASE_URL` | `--database-url` |", "| `GRAPHSYNC_TENANT` | `--tenant` | `common` |")
}

// Every secret can come from a file (kept out of the command line and the
// environment), only one way at a time; a secret given as a flag works but
// is warned about.
func TestSecretsFromFilesAndFlags(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const clientSecret, uiToken = "file-client-secret-value", "file-ui-token-value"
	env := maps.Clone(b.env)
	delete(env, "GRAPHSYNC_ENCRYPTION_KEY")
	env["GRAPHSYNC_CLIENT_ID"] = "11111111-2222-3333-4444-555555555555"
	env["GRAPHSYNC_ENCRYPTION_KEY_FILE"] = writeFile(t, "key", b.key+"\n")
	env["GRAPHSYNC_CLIENT_SECRET_FILE"] = writeFile(t, "secret", clientSecret+"\n")
	env["GRAPHSYNC_UI_TOKEN_FILE"] = writeFile(t, "ui", uiToken)
	code, out, errOut := runWith(t, env, "config", "check")
	wantCode(t, code, 0, out, errOut)
	wantContains(t, "config check with secret files", out, "OK", "GRAPHSYNC_ENCRYPTION_KEY_FILE")
	wantNotContains(t, "config check with secret files", out+errOut, b.key, clientSecret, uiToken, "warning")

	both := maps.Clone(env)
	both["GRAPHSYNC_UI_TOKEN"] = "another-token"
	code, out, errOut = runWith(t, both, "config", "check")
	wantCode(t, code, 2, out, errOut)
	wantContains(t, "config check with a secret set twice", out, "set only one of GRAPHSYNC_UI_TOKEN and GRAPHSYNC_UI_TOKEN_FILE")

	missing := maps.Clone(env)
	missing["GRAPHSYNC_ENCRYPTION_KEY_FILE"] = "/nonexistent/key"
	code, out, errOut = runWith(t, missing, "config", "check")
	wantCode(t, code, 2, out, errOut)
	wantContains(t, "config check with a missing key file", out, "GRAPHSYNC_ENCRYPTION_KEY_FILE: open /nonexistent/key")

	flags := maps.Clone(env)
	delete(flags, "GRAPHSYNC_CLIENT_SECRET_FILE")
	code, out, errOut = runWith(t, flags, "config", "check", "--client-secret", "flag-secret-value")
	wantCode(t, code, 0, out, errOut)
	wantContains(t, "config check with a secret flag", errOut, "warning: --client-secret puts a secret on the command line",
		"GRAPHSYNC_CLIENT_SECRET_FILE")
	wantNotContains(t, "config check with a secret flag", out+errOut, "flag-secret-value")
}
