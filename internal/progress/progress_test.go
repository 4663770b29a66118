package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/graphsync/graphsync/jobs"
)

func TestProgressView(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	base := map[string]progress{"mail": {upserted: 100, pages: 2}, "people": {upserted: 5, pages: 1}}
	zero := map[string]progress{"mail": {upserted: 100, pages: 2}, "people": {upserted: 5, pages: 1}}
	first := map[string]progress{"mail": {upserted: 300, pages: 6, deleted: 4}, "calendar": {upserted: 50, pages: 1}, "people": {upserted: 5, pages: 1}}
	second := map[string]progress{"mail": {upserted: 700, pages: 10, deleted: 4}, "calendar": {upserted: 50, pages: 1}, "people": {upserted: 5, pages: 1}}
	syncing := jobs.PassStatus{Mailboxes: 3, Active: 3, Retrying: 1}

	var plain bytes.Buffer
	v := &progressView{w: &plain, start: start, base: base}
	v.render(start, zero, syncing)
	v.render(start.Add(2*time.Second), first, syncing)
	v.render(start.Add(4*time.Second), second, jobs.PassStatus{Mailboxes: 3})
	// The time heads each block; resources that wrote nothing (people, or
	// every one at first) are left out.
	want := "" +
		"      0.0s, 3 of 3 mailboxes syncing (1 waiting to retry a failure)\n" +
		"      2.0s, 3 of 3 mailboxes syncing (1 waiting to retry a failure)\n" +
		"        calendar          50 records       0 deleted      1 pages       25 rec/s\n" +
		"        mail             200 records       4 deleted      4 pages      100 rec/s\n" +
		"      4.0s, done\n" +
		"        calendar          50 records       0 deleted      1 pages        0 rec/s\n" +
		"        mail             600 records       4 deleted      8 pages      200 rec/s\n"
	if plain.String() != want {
		t.Errorf("plain output:\n%s\nwant:\n%s", plain.String(), want)
	}

	var term bytes.Buffer
	v = &progressView{w: &term, term: true, start: start, base: base}
	v.render(start.Add(time.Second), first, syncing)
	if strings.Contains(term.String(), "\033[3A") {
		t.Errorf("first render moved the cursor up: %q", term.String())
	}
	term.Reset()
	v.render(start.Add(2*time.Second), second, jobs.PassStatus{Mailboxes: 3, Active: 1})
	out := term.String()
	// Three lines (the time and two resources) redrawn in place.
	if !strings.HasPrefix(out, "\033[3A\r\033[K") || strings.Count(out, "\r\033[K") != 3 || !strings.Contains(out, "mail             600 records") {
		t.Errorf("terminal redraw: %q", out)
	}
}
