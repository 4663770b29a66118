package jobs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/internal/worker"
)

func TestContactsSyncMatchesGroundTruth(t *testing.T) {
	t.Parallel()
	b := setup(t, options{
		emu:       emulator.Config{Users: 2, MessagesPerUser: 5, ContactsPerUser: 120, PartialUpdates: true},
		resources: []string{"contacts"},
		worker:    func(c *worker.Config) { c.Graph.MaxPageSize = 25 },
	})
	b.syncNow(t, time.Minute)
	b.assertContactsMatchTruth(t)
	// The default Contacts folder is not among contactFolders; its contacts
	// are synced all the same.
	if n := b.count(t, `SELECT count(*) FROM contacts WHERE deleted_at IS NULL
		AND folder_id NOT IN (SELECT id FROM contact_folders)`); n == 0 {
		t.Fatal("no contact of the default Contacts folder was synced")
	}

	// Contacts are created, updated (partially) and deleted; folders are
	// created, renamed and deleted, some of those synced among them.
	stored := map[string]bool{}
	rows, err := b.store.Pool().Query(context.Background(), `SELECT id FROM contact_folders`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		stored[id] = true
	}
	rows.Close()
	kinds := map[string]int{}
	var gone []string
	for i := 0; i < 100 && (kinds["contactFolder created"] == 0 || len(gone) == 0 ||
		kinds["contact updated"] == 0 || kinds["contact deleted"] == 0); i++ {
		for _, m := range b.em.Mutate(100) {
			f := strings.Fields(m)
			if len(f) < 3 || !strings.HasPrefix(f[0], "contact") {
				continue
			}
			kinds[f[0]+" "+f[1]]++
			if f[0] == "contactFolder" && f[1] == "deleted" && stored[f[2]] {
				gone = append(gone, f[2])
			}
		}
	}
	for _, k := range []string{"contact created", "contact updated", "contact deleted", "contactFolder created"} {
		if kinds[k] == 0 {
			t.Fatalf("mutations never did %q: %v", k, kinds)
		}
	}
	if len(gone) == 0 {
		t.Fatalf("mutations deleted no synced contact folder: %v", kinds)
	}
	b.syncNow(t, time.Minute)
	b.assertContactsMatchTruth(t)
	if n := b.count(t, `SELECT count(*) FROM contact_folders WHERE id = ANY($1) AND deleted_at IS NOT NULL`, gone); n != len(gone) {
		t.Fatalf("%d of the %d deleted contact folders retired", n, len(gone))
	}
	if n := b.count(t, `SELECT count(*) FROM contacts WHERE folder_id = ANY($1) AND deleted_at IS NULL`, gone); n != 0 {
		t.Fatalf("%d contacts of deleted folders still live", n)
	}
	if n := b.count(t, `SELECT count(*) FROM quarantine`); n != 0 {
		t.Fatalf("%d records quarantined", n)
	}

	// An idle pass rewrites nothing.
	var mark time.Time
	if err := b.store.Pool().QueryRow(context.Background(),
		`SELECT greatest((SELECT max(synced_at) FROM contacts), (SELECT max(synced_at) FROM contact_folders))`).Scan(&mark); err != nil {
		t.Fatal(err)
	}
	b.syncNow(t, time.Minute)
	if n := b.count(t, `SELECT (SELECT count(*) FROM contacts WHERE synced_at > $1) + (SELECT count(*) FROM contact_folders WHERE synced_at > $1)`, mark); n != 0 {
		t.Fatalf("idle pass rewrote %d rows", n)
	}
}

func TestContactsResyncAfterExpiredTokens(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{Users: 1, MessagesPerUser: 5, ContactsPerUser: 60}, resources: []string{"contacts"}})
	b.syncNow(t, time.Minute)
	b.assertContactsMatchTruth(t)
	// Changes made while the delta tokens expire are caught by full rounds,
	// which retire what they no longer see.
	b.em.Mutate(300)
	b.em.ExpireDeltaTokens()
	b.syncNow(t, time.Minute)
	b.assertContactsMatchTruth(t)
	if n := b.count(t, `SELECT coalesce(sum(resyncs), 0) FROM sync_state WHERE resource = 'contacts'`); n == 0 {
		t.Fatal("no contacts stream resynced after the tokens expired")
	}
}

func TestContactsQuarantineUndecodableContact(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{Users: 1, MessagesPerUser: 5, ContactsPerUser: 30}, resources: []string{"contacts"}})
	poison, err := b.em.AddPoisonContact(b.conns[0].UserID)
	if err != nil {
		t.Fatal(err)
	}
	b.syncNow(t, time.Minute)
	// The rest of the page and of the sync went on.
	b.assertContactsMatchTruth(t)
	if n := b.count(t, `SELECT count(*) FROM quarantine WHERE resource = 'contacts' AND item_id = $1 AND error LIKE '%createdDateTime%'`, poison); n != 1 {
		t.Fatalf("poison contact quarantined %d times, want once with a reason naming createdDateTime", n)
	}
	if n := b.count(t, `SELECT count(*) FROM contacts WHERE id = $1`, poison); n != 0 {
		t.Fatal("poison contact stored")
	}
	if n := b.count(t, `SELECT count(*) FROM sync_state WHERE resource = 'contacts' AND status <> 'ok'`); n != 0 {
		t.Fatalf("%d contacts streams not ok after a quarantined record", n)
	}
}

func (b *bundle) assertContactsMatchTruth(t *testing.T) {
	t.Helper()
	b.assertMatchesTruth(t, "contacts")
}
