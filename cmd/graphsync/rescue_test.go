package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/riverqueue/river"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/jobs"
	"github.com/graphsync/graphsync/store"
)

// A mailbox whose sync job is still marked running past the job timeout
// ran on a worker that is gone: status says it waits for rescue, and until
// when, instead of looking idle. A job within its timeout is not stranded.
func TestStatusWaitingForRescue(t *testing.T) {
	t.Parallel()
	b := setup(t)
	st := b.store()
	ctx := t.Context()
	client, err := river.NewClient(st.RiverDriver(), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	conn := func(user string) *store.Connection {
		cn, err := st.SaveConnection(ctx, &store.Connection{Kind: store.KindDelegated, TenantID: "tenant-r", UserID: user,
			UserPrincipalName: user + "@contoso.com", Resources: []*graphsync.Resource{graphsync.Mail}}, store.Tokens{RefreshToken: "rt"})
		if err != nil {
			t.Fatal(err)
		}
		return cn
	}
	// running marks a sync job of cn running on a worker since ago.
	running := func(cn *store.Connection, ago string) int64 {
		res, err := client.Insert(ctx, jobs.SyncArgs{ConnectionID: cn.ID, UserID: cn.UserID}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Pool().Exec(ctx, `UPDATE river_job SET state = 'running', attempt = 1,
			attempted_at = now() - $2::interval, attempted_by = '{worker-gone}' WHERE id = $1`, res.Job.ID, ago); err != nil {
			t.Fatal(err)
		}
		return res.Job.ID
	}
	gone, busy := conn("gone-user"), conn("busy-user")
	stranded := running(gone, "8 minutes")
	running(busy, "3 minutes")

	statusOf := func(out string, cn *store.Connection) string {
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) > 4 && f[0] == fmt.Sprint(cn.ID) && f[3] == "mail" {
				return strings.Join(f[4:7], " ")
			}
		}
		t.Fatalf("no mail line for connection %d in:\n%s", cn.ID, out)
		return ""
	}
	code, out, errOut := b.run("status")
	wantCode(t, code, 0, out, errOut)
	if s := statusOf(out, gone); s != "waiting for rescue" {
		t.Errorf("stranded mailbox shows %q, want waiting for rescue\n%s", s, out)
	}
	if s := statusOf(out, busy); strings.HasPrefix(s, "waiting") {
		t.Errorf("a job within its timeout shows %q\n%s", s, out)
	}
	wantContains(t, "status output", out, fmt.Sprintf("sync job %d", stranded), "worker worker-gone, which is gone", "GRAPHSYNC_RESCUE_AFTER")

	// Shorter jobs time out sooner: then the other job is stranded too.
	b.env["GRAPHSYNC_MAX_JOB_DURATION"] = "30s"
	code, out, errOut = b.run("status", "--connection", fmt.Sprint(busy.ID))
	wantCode(t, code, 0, out, errOut)
	if s := statusOf(out, busy); s != "waiting for rescue" {
		t.Errorf("with 30s jobs, a job running 3 minutes shows %q\n%s", s, out)
	}
	wantNotContains(t, "status of one connection", out, fmt.Sprintf("sync job %d", stranded))
}
