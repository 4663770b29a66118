package chaos_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/graphsync/graphsync/internal/chaos"
)

// A short chaos run: worker processes killed a few times (the last one's
// jobs left to River's rescuer), PostgreSQL restarted once, faults and
// mutations, three workers for a while; the tables must end equal to the
// ground truth with no rule broken.
func TestChaosShort(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and worker processes; covered by make test")
	}
	// River rescues the job of the last kill 90 s after it started.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var out strings.Builder
	rep, err := chaos.Run(ctx, chaos.Options{Duration: 45 * time.Second, Users: 3, MessagesPerUser: 2000, Kills: 4,
		PostgresRestarts: 1, Workers: 3, MutationRate: 10, GraphTimeout: 2 * time.Second,
		FinalTimeout: 3 * time.Minute, Dir: t.TempDir(), Out: &out})
	if rep != nil {
		rep.Print(&out)
	}
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Kills < 4 || rep.PostgresRestarts != 1 || rep.KillsLeftToRiver != 1 {
		t.Errorf("%d kills (%d left to River's rescuer) and %d PostgreSQL restarts, want 4 (1) and 1", rep.Kills, rep.KillsLeftToRiver, rep.PostgresRestarts)
	}
	if rep.Checked == 0 {
		t.Error("nothing was compared with the ground truth")
	}
	for _, v := range rep.Violations {
		t.Error(v)
	}
}
