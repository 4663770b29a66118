package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/pgtest"
	"github.com/graphsync/graphsync/store"
)

// msg is a message of user u1 as messages/delta sends it.
func msg(t testing.TB, id, folder, subject string) graphsync.Row {
	return item(t, graphsync.Mail.Items(), graphsync.MapContext{User: "u1", Container: folder}, map[string]any{
		"id": id, "parentFolderId": folder, "subject": subject, "receivedDateTime": "2025-03-01T10:00:00Z"})
}

// mailFolder is a mail folder of user u1 as mailFolders/delta sends it.
func mailFolder(t testing.TB, id string) graphsync.Row {
	return item(t, graphsync.Mail.Folders(), graphsync.MapContext{User: "u1"}, map[string]any{
		"id": id, "displayName": "Folder " + id, "parentFolderId": "root", "totalItemCount": 1})
}

func TestUpsertMailMessages(t *testing.T) {
	t.Parallel()
	messages := graphsync.Mail.Items()
	for _, size := range []int{3, 200} { // multi-row INSERT and COPY paths
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := pgtest.Store(t)
			c := newConnection(t, s, "u1", store.Tokens{AccessToken: "a", RefreshToken: "r"})
			var ms []graphsync.Row
			for i := range size {
				ms = append(ms, msg(t, fmt.Sprintf("m%d", i), "inbox", fmt.Sprintf("hello %d", i)))
			}
			// A repeated id in one page keeps the later entry.
			ms = append(ms, msg(t, "m0", "inbox", "hello again"))
			if n := upsert(t, s, messages, c.ID, ms, nil); n != int64(size) {
				t.Fatalf("first upsert changed %d rows, want %d", n, size)
			}
			if n := upsert(t, s, messages, c.ID, ms, nil); n != 0 {
				t.Fatalf("identical upsert changed %d rows, want 0", n)
			}
			var subject string
			if err := s.Pool().QueryRow(ctx, "SELECT subject FROM mail_messages WHERE id = 'm0'").Scan(&subject); err != nil || subject != "hello again" {
				t.Fatalf("m0 subject = %q (%v), want the later entry", subject, err)
			}
			ms[1] = msg(t, "m1", "inbox", "changed")
			if n := upsert(t, s, messages, c.ID, ms, nil); n != 1 {
				t.Fatalf("one changed row: upsert changed %d rows", n)
			}
		})
	}
}

// A message's raw JSON is kept as Graph sent it (mail_messages.raw is json),
// and the same object spelt another way is no change.
func TestMailRawKeptAsSent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	messages := graphsync.Mail.Items()
	s := pgtest.Store(t)
	c := newConnection(t, s, "u1", store.Tokens{AccessToken: "a", RefreshToken: "r"})
	row := func(raw string) graphsync.Row {
		r, err := messages.Map([]byte(raw), graphsync.MapContext{User: "u1", Container: "inbox"})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	sent := `{"subject":"hi",  "id":"m1","receivedDateTime":"2025-03-01T10:00:00Z","parentFolderId":"inbox","body":{"content":"<p>x</p>","contentType":"html"}}`
	if n := upsert(t, s, messages, c.ID, []graphsync.Row{row(sent)}, nil); n != 1 {
		t.Fatalf("first upsert changed %d rows, want 1", n)
	}
	var stored string
	if err := s.Pool().QueryRow(ctx, "SELECT raw::text FROM mail_messages WHERE id = 'm1'").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != sent {
		t.Fatalf("raw stored as %s, Graph sent %s", stored, sent)
	}
	respelt := `{"id":"m1","parentFolderId":"inbox","receivedDateTime":"2025-03-01T10:00:00Z","subject":"hi","body":{"contentType":"html","content":"<p>x</p>"}}`
	if n := upsert(t, s, messages, c.ID, []graphsync.Row{row(respelt)}, nil); n != 0 {
		t.Fatalf("the same message spelt another way changed %d rows, want 0", n)
	}
	var ct string
	if err := s.Pool().QueryRow(ctx, "SELECT raw->'body'->>'contentType' FROM mail_messages WHERE id = 'm1'").Scan(&ct); err != nil || ct != "html" {
		t.Fatalf("raw->'body'->>'contentType' = %q (%v), want html", ct, err)
	}
}

func TestMoveSurvivesEitherOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	messages := graphsync.Mail.Items()
	for _, destFirst := range []bool{true, false} {
		s := pgtest.Store(t)
		c := newConnection(t, s, "u1", store.Tokens{AccessToken: "a", RefreshToken: "r"})
		upsert(t, s, messages, c.ID, []graphsync.Row{msg(t, "m1", "A", "x")}, nil)
		removeFromA := func() { remove(t, s, messages, stream(c, graphsync.Mail, "u1", "A"), graphsync.Window{}, "m1") }
		if destFirst {
			upsert(t, s, messages, c.ID, []graphsync.Row{msg(t, "m1", "B", "x")}, nil)
			removeFromA()
		} else {
			removeFromA()
			upsert(t, s, messages, c.ID, []graphsync.Row{msg(t, "m1", "B", "x")}, nil)
		}
		var folder string
		var deleted bool
		if err := s.Pool().QueryRow(ctx, "SELECT folder_id, deleted_at IS NOT NULL FROM mail_messages WHERE id = 'm1'").Scan(&folder, &deleted); err != nil {
			t.Fatal(err)
		}
		if folder != "B" || deleted {
			t.Fatalf("destination first=%t: folder=%s deleted=%t, want B and live", destFirst, folder, deleted)
		}
	}
}

// Deleting a mail folder, or a full round of the folder list not seeing
// it, retires the messages it held, and only those.
func TestMailFolderCascade(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	c := newConnection(t, s, "u1", store.Tokens{AccessToken: "a", RefreshToken: "r"})
	folders, messages := graphsync.Mail.Folders(), graphsync.Mail.Items()
	top := stream(c, graphsync.Mail, "u1", "")
	upsert(t, s, folders, c.ID, []graphsync.Row{mailFolder(t, "A"), mailFolder(t, "B"), mailFolder(t, "C")}, nil)
	upsert(t, s, messages, c.ID, []graphsync.Row{msg(t, "a1", "A", "x"), msg(t, "a2", "A", "y"), msg(t, "b1", "B", "z"),
		msg(t, "c1", "C", "w")}, nil)
	liveIn := func(folder string) int {
		return count(t, s, "SELECT count(*) FROM mail_messages WHERE connection_id = $1 AND folder_id = $2 AND deleted_at IS NULL", c.ID, folder)
	}

	if r := remove(t, s, folders, top, graphsync.Window{}, "A"); r.Deleted != 1 {
		t.Fatalf("removed %d folders, want 1", r.Deleted)
	}
	if n := liveIn("A"); n != 0 {
		t.Fatalf("%d messages of the deleted folder still live", n)
	}
	if liveIn("B") != 1 || liveIn("C") != 1 {
		t.Fatal("messages of other folders were retired")
	}

	since := time.Now()
	upsert(t, s, folders, c.ID, []graphsync.Row{mailFolder(t, "B")}, &since)
	if r := retireUnseen(t, s, folders, top, since, graphsync.Window{}); r.Deleted != 1 {
		t.Fatalf("full round retired %d folders, want 1 (C)", r.Deleted)
	}
	if liveIn("C") != 0 || liveIn("B") != 1 {
		t.Fatalf("after a full round: %d live in C (want 0), %d in B (want 1)", liveIn("C"), liveIn("B"))
	}
	ids, err := s.LiveIDs(context.Background(), folders, c.ID, "u1")
	if err != nil || fmt.Sprint(ids) != "[B]" {
		t.Fatalf("live folders %v (%v), want [B]", ids, err)
	}
}

func TestHostileStrings(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	c := newConnection(t, s, "u1", store.Tokens{AccessToken: "a", RefreshToken: "r"})
	id := "m'); DROP TABLE mail_messages; --"
	m := rowOf(graphsync.Mail.Items(), map[string]any{"id": id, "user_id": "u1", "folder_id": "f",
		"subject": "nul\x00 and bad \xff utf8",
		"raw":     []byte(`{"id":"x","subject":"nul\u0000 lone \ud800 pair \ud83d\ude00 bad ` + "\xff" + `"}`)})
	if n := upsert(t, s, graphsync.Mail.Items(), c.ID, []graphsync.Row{m}, nil); n != 1 {
		t.Fatalf("hostile row: %d rows written", n)
	}
	var subject, rawSubject string
	err := s.Pool().QueryRow(context.Background(), "SELECT subject, raw->>'subject' FROM mail_messages WHERE id = $1", id).Scan(&subject, &rawSubject)
	if err != nil {
		t.Fatal(err)
	}
	if subject != "nul and bad \uFFFD utf8" {
		t.Errorf("subject = %q", subject)
	}
	if rawSubject != "nul lone \uFFFD pair 😀 bad \uFFFD" {
		t.Errorf("raw subject = %q", rawSubject)
	}
}

func TestCleanJSONLeavesValidInputAlone(t *testing.T) {
	t.Parallel()
	in := []byte(`{"a":"plain é \u00e9 \n \\u0000 literal"}`)
	if out := store.CleanJSON(in); &out[0] != &in[0] && string(out) != string(in) {
		t.Fatalf("valid JSON changed: %s", out)
	}
}
