package main

import (
	"context"
	"maps"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/graphsync/graphsync/connect"
	"github.com/graphsync/graphsync/emulator"
)

// connectOnce runs `graphsync connect` with env, completes the sign-in it
// prints as a browser would, and returns its exit code and output. The
// default redirect port (8085) may be held by another test run on this
// machine for a moment: the run is tried again then.
func connectOnce(t *testing.T, env map[string]string, upn string) (int, string, string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		out, errOut := &syncBuffer{}, &syncBuffer{}
		m := &Main{Getenv: func(k string) string { return env[k] }, Stdin: strings.NewReader(""), Stdout: out, Stderr: errOut}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		done := make(chan int, 1)
		go func() { done <- m.Exit(m.Run(ctx, []string{"connect", "--login-hint", upn, "--timeout", "1m"})) }()
		urlRe := regexp.MustCompile(`(?m)^  (http\S+)$`)
		var code int
		for code = -1; code == -1; {
			select {
			case code = <-done:
			case <-time.After(20 * time.Millisecond):
				if m := urlRe.FindStringSubmatch(out.String()); m != nil {
					if err := connect.Follow(ctx, m[1]); err != nil {
						t.Logf("follow the sign-in: %v", err)
					}
					code = <-done
				}
			}
		}
		cancel()
		if code != 0 && strings.Contains(errOut.String(), "address already in use") && time.Now().Before(deadline) {
			time.Sleep(time.Second)
			continue
		}
		return code, out.String(), errOut.String()
	}
}

// graphsync's defaults agree with the emulator's: `graphsync connect` with
// the settings graphemu prints, GRAPHSYNC_REDIRECT_URL left to its default,
// connects; its output is for a person (no JSON log lines). A refused client
// secret is a configuration error that says so.
func TestConnectAgainstEmulatorDefaults(t *testing.T) {
	t.Parallel()
	b := setup(t)
	em, err := emulator.Start(emulator.Config{Seed: 13, Users: 1, MessagesPerUser: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { em.Close() })
	app := em.Apps()[0]
	env := maps.Clone(b.env)
	maps.Copy(env, map[string]string{
		"GRAPHSYNC_CLIENT_ID":     app.ClientID,
		"GRAPHSYNC_CLIENT_SECRET": app.Secret,
		"GRAPHSYNC_TENANT":        em.TenantID(),
		"GRAPHSYNC_GRAPH_URL":     em.URL(),
		"GRAPHSYNC_LOGIN_URL":     em.URL(),
	})
	upn := em.Users()[0].UserPrincipalName

	code, out, errOut := connectOnce(t, env, upn)
	wantCode(t, code, 0, out, errOut)
	wantContains(t, "connect output", out, "Waiting for the redirect to http://localhost:8085/callback", "Connected "+upn)
	wantNotContains(t, "connect output", out+errOut, `{"time"`, "level=")

	env["GRAPHSYNC_CLIENT_SECRET"] = "not-the-secret"
	code, out, errOut = connectOnce(t, env, upn)
	wantCode(t, code, 2, out, errOut)
	wantContains(t, "connect with a wrong secret", errOut,
		"the identity platform refused the app's credentials: the client secret is wrong", "GRAPHSYNC_CLIENT_SECRET")
	wantNotContains(t, "connect with a wrong secret", out+errOut, `{"time"`, "not-the-secret")
}
