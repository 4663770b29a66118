package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/graphsync/graphsync/internal/pgtest"
	"github.com/graphsync/graphsync/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// testBundle is a migrated database and an environment pointing at it.
type testBundle struct {
	t   *testing.T
	url string
	key string
	env map[string]string
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	key, err := store.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	url := pgtest.NewMigrated(t)
	return &testBundle{t: t, url: url, key: key, env: map[string]string{
		"DATABASE_URL":             url,
		"GRAPHSYNC_ENCRYPTION_KEY": key,
	}}
}

// run runs graphsync in-process with b.env as its environment.
func (b *testBundle) run(args ...string) (code int, stdout, stderr string) {
	b.t.Helper()
	return runWith(b.t, b.env, args...)
}

func runWith(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	m := &Main{
		Getenv: func(k string) string { return env[k] },
		Stdin:  strings.NewReader(""),
		Stdout: &out,
		Stderr: &errb,
	}
	code = m.Exit(m.Run(ctx, args))
	return code, out.String(), errb.String()
}

// store opens the bundle's database with its keyring.
func (b *testBundle) store() *store.Store {
	b.t.Helper()
	kr, err := store.ParseKeyring(b.key)
	if err != nil {
		b.t.Fatal(err)
	}
	st, err := store.Open(b.t.Context(), b.url, kr)
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(st.Close)
	return st
}

// writeFile writes content to a new file in a temporary directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func wantCode(t *testing.T, got, want int, stdout, stderr string) {
	t.Helper()
	if got != want {
		t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", got, want, stdout, stderr)
	}
}

func wantContains(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s does not contain %q:\n%s", what, sub, s)
		}
	}
}

func wantNotContains(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if sub != "" && strings.Contains(s, sub) {
			t.Errorf("%s contains %q:\n%s", what, sub, s)
		}
	}
}

func TestHelpAndUnknownCommand(t *testing.T) {
	t.Parallel()
	code, out, errOut := runWith(t, nil, "help")
	wantCode(t, code, 0, out, errOut)
	for _, c := range commands {
		wantContains(t, "help", out, "  "+c.name+" ")
	}

	code, out, errOut = runWith(t, nil, "frobnicate")
	wantCode(t, code, 2, out, errOut)
	wantContains(t, "stderr", errOut, `unknown command "frobnicate"`)

	// Help asked for goes where `graphsync help` writes: standard output.
	code, out, errOut = runWith(t, nil, "migrate", "-h")
	wantCode(t, code, 0, out, errOut)
	wantContains(t, "migrate -h", out, "Usage: graphsync migrate", "-database-url", "$DATABASE_URL")
	code, helpOut, errOut := runWith(t, nil, "help", "migrate")
	wantCode(t, code, 0, helpOut, errOut)
	if helpOut != out {
		t.Errorf("help migrate and migrate -h differ:\n%s\n%s", helpOut, out)
	}
	for _, args := range [][]string{{"connections", "-h"}, {"keys", "-h"}, {"config", "-h"}} {
		code, out, errOut = runWith(t, nil, args...)
		wantCode(t, code, 0, out, errOut)
		wantContains(t, strings.Join(args, " "), out, "Usage: graphsync "+args[0])
	}

	code, out, errOut = runWith(t, nil, "version")
	wantCode(t, code, 0, out, errOut)
	wantContains(t, "version", out, "graphsync ")
}

func TestHelpHidesSecretsFromEnvironment(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"GRAPHSYNC_CLIENT_SECRET":  "client-secret-value-123",
		"GRAPHSYNC_UI_TOKEN":       "ui-token-value-456",
		"GRAPHSYNC_ENCRYPTION_KEY": "encryption-key-value-789",
		"DATABASE_URL":             "postgres://u:db-password-000@localhost/db",
	}
	code, out, errOut := runWith(t, env, "status", "-h")
	wantCode(t, code, 0, out, errOut)
	wantContains(t, "status -h", out, "(set, hidden)", "-connection")
	wantNotContains(t, "status -h", out+errOut, "client-secret-value-123", "ui-token-value-456", "encryption-key-value-789", "db-password-000")
}

// Mistakes get one clear line and the right exit status: no list of every
// setting after a bad flag, no doubled prefixes, a malformed DATABASE_URL
// is a configuration error, each failed connection attempt named once.
func TestErrorMessages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	with := func(k, v string) map[string]string {
		env := map[string]string{}
		for kk, vv := range b.env {
			env[kk] = vv
		}
		env[k] = v
		return env
	}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		code int
		want string
	}{
		{"unknown flag", b.env, []string{"status", "--bogus"}, 2, "graphsync: flag provided but not defined: -bogus; `graphsync status -h` lists its flags\n"},
		{"bad connection id", b.env, []string{"sync", "--connection", "abc"}, 2, `invalid value "abc" for flag -connection`},
		{"missing connection", b.env, []string{"connections", "show", "424242"}, 2, "graphsync: connection 424242 does not exist"},
		{"extra argument", b.env, []string{"migrate", "extra"}, 2, "graphsync: migrate takes no arguments"},
		{"malformed DATABASE_URL", with("DATABASE_URL", "postgres://a b@localhost/db"), []string{"status"}, 2, "graphsync: DATABASE_URL is malformed"},
		{"no command", nil, nil, 2, "graphsync: no command given; `graphsync help` lists the commands\n"},
	}
	for _, tt := range tests {
		code, out, errOut := runWith(t, tt.env, tt.args...)
		wantCode(t, code, tt.code, out, errOut)
		wantContains(t, tt.name, errOut, tt.want)
		if n := strings.Count(errOut, "\n"); n != 1 {
			t.Errorf("%s: %d lines on stderr, want 1:\n%s", tt.name, n, errOut)
		}
		wantNotContains(t, tt.name, out+errOut, "graphsync: graphsync", "GRAPHSYNC_CALENDAR_PAST")
	}

	// An unreachable server: each address tried is named once.
	code, out, errOut := runWith(t, with("DATABASE_URL", "postgres://postgres@127.0.0.1:1/postgres?connect_timeout=5"), "status")
	wantCode(t, code, 1, out, errOut)
	wantContains(t, "unreachable database", errOut, "unreachable", "127.0.0.1:1")
	for _, line := range strings.Split(errOut, "\n") {
		if strings.TrimSpace(line) != "" && strings.Count(errOut, line) > 1 {
			t.Errorf("unreachable database: %q repeated:\n%s", line, errOut)
		}
	}

	// The store says what it was doing once.
	code, out, errOut = runWith(t, with("GRAPHSYNC_ENCRYPTION_KEY", b.key), "keys", "rotate")
	wantCode(t, code, 0, out, errOut)
	if _, err := b.store().Pool().Exec(t.Context(), "DROP TABLE connections CASCADE"); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runWith(t, b.env, "keys", "rotate")
	wantCode(t, code, 1, out, errOut)
	wantNotContains(t, "keys rotate", errOut, "rotate keys: rotate keys")
}

func TestInterspersed(t *testing.T) {
	t.Parallel()
	fs := (&Main{Stderr: &bytes.Buffer{}}).flagSet("x", "x", "x")
	fs.Bool("yes", false, "")
	got := strings.Join(interspersed(fs, []string{"7", "--yes", "--database-url", "pg://x", "-tenant=a", "rest"}), " ")
	want := "--yes --database-url pg://x -tenant=a -- 7 rest"
	if got != want {
		t.Errorf("interspersed = %q, want %q", got, want)
	}
}
