package jobs_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/verify"
)

// The ground-truth comparison fails on what a broken build would leave: a
// field never stored (in raw or in its column), a row deleted outright
// instead of marked deleted, and an item stored twice under two ids. It
// passes on what a correct sync leaves, for every resource.
func TestVerifyCatchesABrokenBuild(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{Users: 1, MessagesPerUser: 150, ChatsPerUser: 2, ChatMessagesPerChat: 10},
		resources: graphsync.Names(graphsync.Resources)})
	b.syncNow(t, 2*time.Minute)
	b.em.Mutate(400)
	b.syncNow(t, 2*time.Minute)
	for _, r := range graphsync.Resources {
		b.assertMatchesTruth(t, r.Name())
	}

	ctx := context.Background()
	conn, user := b.conns[0], b.conns[0].UserID
	live := map[string]json.RawMessage{}
	for _, raw := range b.truth(t, user, "messages") {
		id, _ := graphsync.ID(raw)
		live[id] = raw
	}
	var flagged, plain string
	for id, raw := range live {
		var m graphsync.Message
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		switch {
		case flagged == "" && m.Flag != nil && m.Flag.FlagStatus != "":
			flagged = id
		case plain == "" && m.Subject != "" && id != flagged:
			plain = id
		}
	}
	gone, err := verify.DeletedTruth(ctx, b.em.URL(), user, "messages")
	if err != nil {
		t.Fatal(err)
	}
	var deleted string
	for _, raw := range gone {
		if id, _ := graphsync.ID(raw); live[id] == nil {
			deleted = id
			break
		}
	}
	if flagged == "" || plain == "" || deleted == "" {
		t.Fatalf("the tenant lacks a flagged message (%q), another message (%q) or one deleted after it was synced (%q)", flagged, plain, deleted)
	}
	if n := b.count(t, "SELECT count(*) FROM mail_messages WHERE id = $1 AND deleted_at IS NOT NULL", deleted); n != 1 {
		t.Fatalf("the deleted message %s has %d soft-deleted rows, want 1", deleted, n)
	}

	tx, err := b.store.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		// A build that never stored the flag.
		{`UPDATE mail_messages SET raw = (raw::jsonb - 'flag')::json, flag_status = NULL WHERE connection_id = $1 AND id = $2`, []any{conn.ID, flagged}},
		// One that lost a typed column but kept raw.
		{`UPDATE mail_messages SET subject = NULL WHERE connection_id = $1 AND id = $2`, []any{conn.ID, plain}},
		// One that hard-deletes.
		{`DELETE FROM mail_messages WHERE connection_id = $1 AND id = $2`, []any{conn.ID, deleted}},
		// One that stores an item again under another id.
		{`CREATE TEMP TABLE copy ON COMMIT DROP AS SELECT * FROM mail_messages WHERE connection_id = $1 AND id = $2`, []any{conn.ID, plain}},
		{`UPDATE copy SET id = id || '-again'`, nil},
		{`INSERT INTO mail_messages SELECT * FROM copy`, nil},
	} {
		if _, err := tx.Exec(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	results, err := verify.Mail(ctx, b.store.Pool(), b.em.URL(), conn.ID, user)
	if err != nil {
		t.Fatal(err)
	}
	var messages verify.Result
	for _, r := range results {
		if r.Table == "mail_messages" {
			messages = r
		}
	}
	diffs := strings.Join(messages.Diffs, "\n")
	want := []string{flagged + ": raw: flag missing", flagged + ": flag_status stored", plain + `: subject stored "NULL"`,
		"hard-deleted " + deleted, "duplicate: 2 live rows", "extra " + plain + "-again"}
	for _, w := range want {
		if !strings.Contains(diffs, w) {
			t.Errorf("the comparison misses %q; it says:\n%s", w, diffs)
		}
	}
	if messages.HardDeleted != 1 || messages.Duplicates != 1 || messages.Extra != 1 || messages.Wrong < 3 {
		t.Errorf("counted %d hard-deleted, %d duplicates, %d extra, %d wrong; want 1, 1, 1 and at least 3",
			messages.HardDeleted, messages.Duplicates, messages.Extra, messages.Wrong)
	}
	if slices.ContainsFunc(messages.Diffs, func(d string) bool { return strings.HasPrefix(d, "missing ") }) {
		t.Errorf("a message reported missing: %v", messages.Diffs)
	}
}
