package jobs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/internal/worker"
)

func TestPeopleSyncMatchesGroundTruth(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{Users: 2, MessagesPerUser: 5, PeoplePerUser: 130}, resources: []string{"people"}})
	b.syncNow(t, time.Minute)
	b.assertPeopleMatchTruth(t)

	// Relevance moves: people swap ranks, enter and leave the list, change.
	var entered, left int
	for i := 0; i < 40 && (entered == 0 || left == 0); i++ {
		for _, m := range b.em.Mutate(50) {
			entered += strings.Count(m, "person entered")
			left += strings.Count(m, "person left")
		}
	}
	if entered == 0 || left == 0 {
		t.Fatalf("mutations made %d people enter and %d leave; the test needs both", entered, left)
	}
	b.syncNow(t, time.Minute)
	b.assertPeopleMatchTruth(t)
	if n := b.count(t, "SELECT count(*) FROM people WHERE deleted_at IS NOT NULL"); n < left {
		t.Fatalf("%d people retired, %d left the lists", n, left)
	}

	// An unchanged list rewrites no content: only the seen marks move.
	var mark time.Time
	if err := b.store.Pool().QueryRow(context.Background(), "SELECT max(synced_at) FROM people").Scan(&mark); err != nil {
		t.Fatal(err)
	}
	seenBefore := b.count(t, "SELECT count(DISTINCT seen_at) FROM people WHERE deleted_at IS NULL")
	b.syncNow(t, time.Minute)
	if n := b.count(t, "SELECT count(*) FROM people WHERE synced_at > $1", mark); n != 0 {
		t.Fatalf("idle pass rewrote %d people", n)
	}
	if n := b.count(t, "SELECT count(*) FROM people WHERE deleted_at IS NULL AND seen_at <= $1", mark); n != 0 {
		t.Fatalf("idle pass left %d listed people unmarked (seen marks before: %d distinct)", n, seenBefore)
	}
	b.assertPeopleMatchTruth(t)
}

// A snapshot spread over several jobs (each job's time budget ends after one
// page) resumes at its checkpoint and still ends equal to the truth, with
// every page fetched once.
func TestPeopleSnapshotResumesAcrossJobs(t *testing.T) {
	t.Parallel()
	b := setup(t, options{
		emu:       emulator.Config{Users: 2, MessagesPerUser: 5, PeoplePerUser: 250},
		resources: []string{"people"},
		worker:    func(c *worker.Config) { c.Jobs.MaxJobDuration = time.Nanosecond },
	})
	continued := syncRuns(t, "people", "continued")
	b.syncNow(t, time.Minute)
	b.assertPeopleMatchTruth(t)

	// 250 people in pages of 100: three pages per user.
	if n := statusCount(b.em.Counters(), "/people", 200); n != 6 {
		t.Fatalf("emulator served %d people pages, want 6 (each page once)", n)
	}
	if d := syncRuns(t, "people", "continued") - continued; d < 4 {
		t.Fatalf("%v jobs continued in a new job, want at least 4: the snapshot did not span jobs", d)
	}
	if n := b.count(t, "SELECT coalesce(sum(pages), 0) FROM sync_state WHERE resource = 'people'"); n != 6 {
		t.Fatalf("%d pages committed, want 6", n)
	}
}

func (b *bundle) assertPeopleMatchTruth(t *testing.T) {
	t.Helper()
	b.assertMatchesTruth(t, "people")
}

// syncRuns reads graphsync_sync_runs_total{resource, outcome}.
func syncRuns(t *testing.T, resource, outcome string) float64 {
	t.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "graphsync_sync_runs_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["resource"] == resource && labels["outcome"] == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func TestPeopleQuarantineUndecodablePerson(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{Users: 1, MessagesPerUser: 5, PeoplePerUser: 20}, resources: []string{"people"}})
	poison, err := b.em.AddPoisonPerson(b.conns[0].UserID, 5)
	if err != nil {
		t.Fatal(err)
	}
	b.syncNow(t, time.Minute)
	// The people after it are stored with their ranks.
	b.assertPeopleMatchTruth(t)
	if n := b.count(t, `SELECT count(*) FROM quarantine WHERE resource = 'people' AND item_id = $1 AND error LIKE '%personType%'`, poison); n != 1 {
		t.Fatalf("poison person quarantined %d times, want once with a reason naming personType", n)
	}
	if n := b.count(t, `SELECT count(*) FROM people WHERE id = $1`, poison); n != 0 {
		t.Fatal("poison person stored")
	}
}
