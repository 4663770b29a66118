package jobs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/internal/pgtest"
	"github.com/graphsync/graphsync/jobs"
	"github.com/graphsync/graphsync/syncer"
)

// The rescue delay is derived from the job timeout by default, and one too
// short to be safe is refused with the reason.
func TestRescueAfterDefaultsAndLimits(t *testing.T) {
	t.Parallel()
	st := pgtest.Store(t)
	if got, want := jobs.JobTimeout(5*time.Minute), 6*time.Minute; got != want {
		t.Errorf("job timeout of 5m jobs: %s, want %s", got, want)
	}
	if got, want := jobs.JobTimeout(20*time.Second), 80*time.Second; got != want {
		t.Errorf("job timeout of 20s jobs: %s, want %s", got, want)
	}
	if got, want := jobs.DefaultRescueAfter(5*time.Minute), 7*time.Minute; got != want {
		t.Errorf("default rescue after 5m jobs: %s, want %s", got, want)
	}
	for _, tc := range []struct {
		job, rescue time.Duration
		ok          bool
	}{{0, 0, true}, {5 * time.Minute, 6*time.Minute + time.Second, true}, {5 * time.Minute, 6 * time.Minute, false},
		{20 * time.Second, 81 * time.Second, true}, {20 * time.Second, 80 * time.Second, false}} {
		_, err := jobs.NewService(jobs.Config{Store: st, Engine: nopSyncer{}, Tokens: nopRefresher{}, MaxJobDuration: tc.job, RescueAfter: tc.rescue})
		if (err == nil) != tc.ok {
			t.Errorf("jobs of %s, rescue after %s: %v, want ok %t", tc.job, tc.rescue, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "RescueAfter") {
			t.Errorf("error does not name the setting: %v", err)
		}
	}
}

type nopSyncer struct{}

func (nopSyncer) Sync(context.Context, syncer.Request) (syncer.Outcome, error) {
	return syncer.Outcome{}, nil
}

type nopRefresher struct{}

func (nopRefresher) Refresh(context.Context, int64, string) (string, error) { return "", nil }

// A sync job left running by a worker that is gone is rescued by River and
// run again at once, however often it was attempted before: River's
// backoff after a fifth attempt would wait over ten minutes.
func TestRescuedJobRunsAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, options{noWorkers: true, emu: emulator.Config{Users: 1, MessagesPerUser: 30}})
	ctx := context.Background()
	conn := b.conns[0]
	res, err := b.client.Insert(ctx, jobs.SyncArgs{ConnectionID: conn.ID, UserID: conn.UserID}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// As a worker killed an hour ago leaves it, after four attempts cut
	// short the same way.
	rescued := `{"at":"2026-01-01T00:00:00Z","attempt":1,"error":"Stuck job rescued by JobRescuer","trace":""}`
	if _, err := b.store.Pool().Exec(ctx, `UPDATE river_job SET state = 'running', attempt = 5,
		errors = array_fill($2::jsonb, ARRAY[4]), attempted_at = now() - interval '1 hour',
		attempted_by = '{w1,w2,w3,w4,killed-worker}' WHERE id = $1`, res.Job.ID, rescued); err != nil {
		t.Fatal(err)
	}
	p := b.newProcess(t, 50) // the only client, so the leader: its rescuer runs at once
	waitFor(t, 45*time.Second, "the rescued job to complete", func() bool {
		j, err := p.client.JobGet(ctx, res.Job.ID)
		return err == nil && j.State == rivertype.JobStateCompleted
	})
	j, err := p.client.JobGet(ctx, res.Job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(j.Errors) == 0 || !strings.Contains(j.Errors[len(j.Errors)-1].Error, "rescued") {
		t.Fatalf("job errors %+v, want River's rescue", j.Errors)
	}
	b.assertMailMatchesTruth(t)
}
