package jobs_test

import (
	"testing"
	"time"

	"github.com/graphsync/graphsync/emulator"
)

func TestMailSyncMatchesGroundTruth(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{Users: 2, MessagesPerUser: 300}})
	b.syncNow(t, time.Minute)
	b.assertMailMatchesTruth(t)

	// Mutations: new, changed, moved and deleted messages and folders.
	b.em.Mutate(150)
	b.syncNow(t, time.Minute)
	b.assertMailMatchesTruth(t)

	// An idle pass changes nothing.
	var mark time.Time
	if err := b.store.Pool().QueryRow(t.Context(), "SELECT clock_timestamp()").Scan(&mark); err != nil {
		t.Fatal(err)
	}
	b.syncNow(t, time.Minute)
	for _, table := range []string{"mail_folders", "mail_messages", "mail_attachments"} {
		if n := b.count(t, "SELECT count(*) FROM "+table+" WHERE synced_at > $1", mark); n != 0 {
			t.Fatalf("idle pass rewrote %d rows of %s", n, table)
		}
	}
}
