package jobs

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// The same warning from River is logged once per period, the next one
// counting those left out; other messages and lower levels pass.
func TestQuietHandler(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	h := newQuietHandler(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}), 30*time.Second)
	log := slog.New(h).With("component", "river")
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	emit := func(at time.Duration, level slog.Level, msg string) {
		r := slog.NewRecord(start.Add(at), level, msg, 0)
		if err := log.Handler().Handle(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	// Twice a second for a minute, as River does while the database is down.
	for i := range 120 {
		emit(time.Duration(i)*500*time.Millisecond, slog.LevelError, "producer: error fetching jobs")
	}
	emit(time.Second, slog.LevelWarn, "elector: error attempting to elect")
	emit(2*time.Second, slog.LevelInfo, "started")
	emit(2*time.Second, slog.LevelInfo, "started")
	out := buf.String()
	if n := strings.Count(out, "producer: error fetching jobs"); n != 2 {
		t.Errorf("the repeated error was logged %d times in a minute, want 2:\n%s", n, out)
	}
	if !strings.Contains(out, "repeats_not_logged=59") {
		t.Errorf("the second line does not count the 59 left out:\n%s", out)
	}
	if strings.Count(out, "elector") != 1 || strings.Count(out, "msg=started") != 2 || !strings.Contains(out, "component=river") {
		t.Errorf("other messages or levels were held back:\n%s", out)
	}
}
