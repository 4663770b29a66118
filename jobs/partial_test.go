package jobs_test

import (
	"testing"
	"time"

	"github.com/graphsync/graphsync/emulator"
)

func TestPartialUpdatesMergeIntoStoredRows(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{Users: 2, MessagesPerUser: 200, PartialUpdates: true}})
	b.syncNow(t, time.Minute)
	b.assertMailMatchesTruth(t)

	b.em.Mutate(150)
	b.syncNow(t, time.Minute)
	b.assertMailMatchesTruth(t)

	// Merged rows keep every property, not just the changed ones.
	if n := b.count(t, `SELECT count(*) FROM mail_messages WHERE deleted_at IS NULL AND NOT raw::jsonb ? 'receivedDateTime'`); n != 0 {
		t.Fatalf("%d live messages lost their full object to a partial update", n)
	}
	if n := b.count(t, `SELECT count(*) FROM quarantine`); n != 0 {
		t.Fatalf("%d records quarantined", n)
	}
}
