package jobs

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/graphsync/graphsync/store"
)

func TestSyncJobOutcome(t *testing.T) {
	failed := result{act: actFail, err: errors.New("boom")}
	tests := []struct {
		name    string
		attempt int
		results []result
		want    string // "nil", "error", or "snooze <duration>"
	}{
		{"all synced", 1, []result{{}, {}}, "nil"},
		{"one failed: River retries", 1, []result{{}, failed}, "error"},
		{"one failed, attempts used up: next pass", syncAttempts, []result{{}, failed}, "nil"},
		{"shortest snooze wins, failure retried with it", 1, []result{{act: actSnooze, wait: time.Minute}, failed, {act: actSnooze, wait: 5 * time.Second}}, "snooze 5s"},
		{"time budget: go on at once", 1, []result{{act: actSnooze}, {}}, "snooze 0s"},
		{"re-auth stops the job", 1, []result{{act: actSnooze, wait: time.Second}, {act: actStop}, failed}, "nil"},
	}
	j := &syncJob{svc: &Service{log: slog.New(slog.NewTextHandler(io.Discard, nil))}, conn: &store.Connection{ID: 1}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			job := &river.Job[SyncArgs]{JobRow: &rivertype.JobRow{Attempt: tt.attempt}}
			err := j.outcome(context.Background(), job, tt.results)
			var snooze *rivertype.JobSnoozeError
			got := "error"
			switch {
			case err == nil:
				got = "nil"
			case errors.As(err, &snooze):
				got = "snooze " + snooze.Duration.String()
			}
			if got != tt.want {
				t.Errorf("outcome = %s (%v), want %s", got, err, tt.want)
			}
		})
	}
}
