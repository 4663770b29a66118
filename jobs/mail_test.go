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
	before := b.count(t, "SELECT count(*) FROM mail_messages WHERE synced_at > now() - interval '1 hour'")
	b.syncNow(t, time.Minute)
	after := b.count(t, "SELECT count(*) FROM mail_messages WHERE synced_at > now() - interval '1 hour'")
	if before != after {
		t.Fatalf("idle pass rewrote rows: %d -> %d", before, after)
	}
}
