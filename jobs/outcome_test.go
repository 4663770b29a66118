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

	"github.com/graphsync/graphsync/syncer"
)

// The engine's outcome in River's terms: a stop completes the job, a snooze
// snoozes it, a failure is retried until syncAttempts, then left to the
// next pass.
func TestSyncJobOutcome(t *testing.T) {
	boom := []error{errors.New("boom")}
	tests := []struct {
		name    string
		attempt int
		out     syncer.Outcome
		want    string // "nil", "error", or "snooze <duration>"
	}{
		{"all synced", 1, syncer.Outcome{}, "nil"},
		{"one failed: River retries", 1, syncer.Outcome{Failed: boom}, "error"},
		{"one failed, attempts used up: next pass", syncAttempts, syncer.Outcome{Failed: boom}, "nil"},
		{"snooze, failure retried with it", 1, syncer.Outcome{Snooze: true, Wait: 5 * time.Second, Failed: boom}, "snooze 5s"},
		{"time budget: go on at once", 1, syncer.Outcome{Snooze: true}, "snooze 0s"},
		{"re-auth stops the job", 1, syncer.Outcome{Stop: true, Failed: boom}, "nil"},
	}
	s := &Service{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			job := &river.Job[SyncArgs]{JobRow: &rivertype.JobRow{Attempt: tt.attempt}}
			err := s.outcome(context.Background(), job, tt.out)
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
