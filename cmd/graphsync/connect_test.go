package main

import "testing"

func TestConnectApplicationNeedsATenant(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.env["GRAPHSYNC_CLIENT_ID"] = "client"
	b.env["GRAPHSYNC_CLIENT_SECRET"] = "secret-value"
	for _, args := range [][]string{
		{"connect", "--application"},
		{"connect", "--application", "--tenant", "organizations"},
	} {
		code, out, errOut := b.run(args...)
		wantCode(t, code, 2, out, errOut)
		wantContains(t, "connect --application", errOut, "--application needs --tenant", "never by /common")
		wantNotContains(t, "connect --application", errOut+out, "secret-value")
	}
	code, out, errOut := b.run("connect", "--resources", "mail,faxes")
	wantCode(t, code, 2, out, errOut)
	wantContains(t, "connect --resources", errOut, `unknown resource "faxes"`)
}
