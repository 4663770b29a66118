package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/graphsync/graphsync/internal/pgtest"
	"github.com/graphsync/graphsync/store"
)

func msg(id, folder, subject string) store.MailMessage {
	return store.MailMessage{ID: id, UserID: "u1", FolderID: folder, Subject: subject,
		Raw: []byte(fmt.Sprintf(`{"id":%q,"parentFolderId":%q,"subject":%q}`, id, folder, subject))}
}

func upsert(t *testing.T, s *store.Store, connID int64, ms []store.MailMessage, seen *time.Time) int64 {
	t.Helper()
	var n int64
	err := s.Tx(context.Background(), func(tx pgx.Tx) error {
		var err error
		n, err = s.UpsertMailMessagesTx(context.Background(), tx, connID, ms, seen)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestUpsertMailMessages(t *testing.T) {
	t.Parallel()
	for _, size := range []int{3, 200} { // multi-row INSERT and COPY paths
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := pgtest.Store(t)
			c := newConnection(t, s, "u1", store.Tokens{AccessToken: "a", RefreshToken: "r"})
			var ms []store.MailMessage
			for i := range size {
				ms = append(ms, msg(fmt.Sprintf("m%d", i), "inbox", fmt.Sprintf("hello %d", i)))
			}
			// A repeated id in one page keeps the later entry.
			ms = append(ms, msg("m0", "inbox", "hello again"))
			if n := upsert(t, s, c.ID, ms, nil); n != int64(size) {
				t.Fatalf("first upsert changed %d rows, want %d", n, size)
			}
			if n := upsert(t, s, c.ID, ms, nil); n != 0 {
				t.Fatalf("identical upsert changed %d rows, want 0", n)
			}
			var subject string
			if err := s.Pool().QueryRow(ctx, "SELECT subject FROM mail_messages WHERE id = 'm0'").Scan(&subject); err != nil || subject != "hello again" {
				t.Fatalf("m0 subject = %q (%v), want the later entry", subject, err)
			}
			ms[1].Subject, ms[1].Raw = "changed", []byte(`{"id":"m1","subject":"changed"}`)
			if n := upsert(t, s, c.ID, ms, nil); n != 1 {
				t.Fatalf("one changed row: upsert changed %d rows", n)
			}
		})
	}
}

func TestMoveSurvivesEitherOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, destFirst := range []bool{true, false} {
		s := pgtest.Store(t)
		c := newConnection(t, s, "u1", store.Tokens{AccessToken: "a", RefreshToken: "r"})
		upsert(t, s, c.ID, []store.MailMessage{msg("m1", "A", "x")}, nil)
		removeFromA := func() {
			err := s.Tx(ctx, func(tx pgx.Tx) error {
				_, err := s.DeleteMailMessagesTx(ctx, tx, c.ID, "A", []string{"m1"})
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		if destFirst {
			upsert(t, s, c.ID, []store.MailMessage{msg("m1", "B", "x")}, nil)
			removeFromA()
		} else {
			removeFromA()
			upsert(t, s, c.ID, []store.MailMessage{msg("m1", "B", "x")}, nil)
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

func TestHostileStrings(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	c := newConnection(t, s, "u1", store.Tokens{AccessToken: "a", RefreshToken: "r"})
	m := store.MailMessage{ID: "m'); DROP TABLE mail_messages; --", UserID: "u1", FolderID: "f",
		Subject: "nul\x00 and bad \xff utf8",
		Raw:     []byte(`{"id":"x","subject":"nul\u0000 lone \ud800 pair \ud83d\ude00 bad ` + "\xff" + `"}`)}
	if n := upsert(t, s, c.ID, []store.MailMessage{m}, nil); n != 1 {
		t.Fatalf("hostile row: %d rows written", n)
	}
	var subject, rawSubject string
	err := s.Pool().QueryRow(context.Background(), "SELECT subject, raw->>'subject' FROM mail_messages WHERE id = $1", m.ID).Scan(&subject, &rawSubject)
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
