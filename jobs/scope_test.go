package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graphsync"
)

// A resource whose permission the user never granted is marked
// missing_scope with the permission it needs; the connection's other
// resources keep syncing.
func TestMissingScopeMarksOnlyThatResource(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{Users: 1, MessagesPerUser: 60}, resources: []string{"mail"}})
	conn := b.conns[0]
	// Enabled after consent: the token carries Mail.Read only.
	if err := b.store.SetResources(context.Background(), conn.ID, []*graphsync.Resource{graphsync.Mail, graphsync.Calendar}); err != nil {
		t.Fatal(err)
	}
	b.syncNow(t, time.Minute)

	states, err := b.store.SyncStates(context.Background(), conn.ID)
	if err != nil {
		t.Fatal(err)
	}
	var calendar, mail int
	for _, st := range states {
		switch st.Resource.Name() {
		case "calendar":
			// The resource's own row carries the verdict `graphsync status` shows.
			if st.Container != "" {
				continue
			}
			calendar++
			if st.Status != "missing_scope" || st.MissingScope != "Calendars.Read" {
				t.Errorf("calendar: status %q, missing scope %q; want missing_scope Calendars.Read", st.Status, st.MissingScope)
			}
		case "mail":
			mail++
			if st.Status != "ok" {
				t.Errorf("mail stream %q: status %q, want ok", st.Container, st.Status)
			}
		}
	}
	if calendar == 0 || mail == 0 {
		t.Fatalf("%d calendar and %d mail streams recorded", calendar, mail)
	}
	b.assertMailMatchesTruth(t)
	if n := b.count(t, "SELECT count(*) FROM connections WHERE id = $1 AND status = 'active'", conn.ID); n != 1 {
		t.Fatal("a missing scope changed the connection's status")
	}
}
