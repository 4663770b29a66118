package main

import (
	"testing"

	"github.com/graphsync/graphsync/internal/pgtest"
)

func TestMigrateTwiceIsNoOp(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DATABASE_URL": pgtest.NewDatabase(t)}

	code, out, errOut := runWith(t, env, "migrate")
	wantCode(t, code, 0, out, errOut)
	wantContains(t, "first migrate", out, "applied 001_foundation.up.sql", "applied River migration")
	wantNotContains(t, "first migrate", out, "up to date")

	code, out, errOut = runWith(t, env, "migrate")
	wantCode(t, code, 0, out, errOut)
	if out != "database is up to date\n" {
		t.Errorf("second migrate printed %q, want only that the database is up to date", out)
	}

	_, out, _ = runWith(t, env, "config", "check")
	wantNotContains(t, "config check after migrate", out, "pending")
}

func TestMigrateNeedsDatabaseURL(t *testing.T) {
	t.Parallel()
	code, out, errOut := runWith(t, map[string]string{}, "migrate")
	wantCode(t, code, 2, out, errOut)
	wantContains(t, "stderr", errOut, "DATABASE_URL is not set")

	env := map[string]string{"DATABASE_URL": "postgres://u:pw-secret@127.0.0.1:1/db?connect_timeout=2"}
	code, out, errOut = runWith(t, env, "migrate")
	wantCode(t, code, 1, out, errOut)
	wantNotContains(t, "migrate output", out+errOut, "pw-secret")
}
