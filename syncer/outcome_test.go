package syncer

import (
	"errors"
	"testing"
	"time"
)

// A job's outcome from its resources' results: stopping wins, then the
// shortest snooze, then the failures.
func TestOutcome(t *testing.T) {
	failed := result{act: actFail, err: errors.New("boom")}
	tests := []struct {
		name    string
		results []result
		want    Outcome
	}{
		{"all synced", []result{{}, {}}, Outcome{}},
		{"one failed", []result{{}, failed}, Outcome{Failed: []error{failed.err}}},
		{"shortest snooze wins, failure kept", []result{{act: actSnooze, wait: time.Minute}, failed, {act: actSnooze, wait: 5 * time.Second}},
			Outcome{Snooze: true, Wait: 5 * time.Second, Failed: []error{failed.err}}},
		{"time budget: go on at once", []result{{act: actSnooze}, {}}, Outcome{Snooze: true}},
		{"re-auth stops the job", []result{{act: actSnooze, wait: time.Second}, {act: actStop}, failed}, Outcome{Stop: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := outcome(tt.results)
			if got.Stop != tt.want.Stop || got.Snooze != tt.want.Snooze || got.Wait != tt.want.Wait ||
				(!got.Stop && len(got.Failed) != len(tt.want.Failed)) {
				t.Errorf("outcome = %+v, want %+v", got, tt.want)
			}
		})
	}
}
