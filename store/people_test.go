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

func person(user, id, title string, rank int32) store.Person {
	return store.Person{ID: id, UserID: user, DisplayName: "P " + id, JobTitle: title, RelevanceRank: rank,
		Phones: []byte(`[{"type":"business","number":"1"}]`),
		Raw:    []byte(fmt.Sprintf(`{"id":%q,"jobTitle":%q}`, id, title))}
}

func TestUpsertPeople(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.Store(t)
	c := newConnection(t, s, "u1", store.Tokens{AccessToken: "a", RefreshToken: "r"})
	tx := func(fn func(tx pgx.Tx) (int64, error)) int64 {
		t.Helper()
		var n int64
		if err := s.Tx(ctx, func(tx pgx.Tx) error {
			var err error
			n, err = fn(tx)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	upsert := func(ps []store.Person, seen time.Time) int64 {
		t.Helper()
		return tx(func(tx pgx.Tx) (int64, error) { return s.UpsertPeopleTx(ctx, tx, c.ID, ps, seen) })
	}
	round1 := time.Now().Add(-time.Hour).Truncate(time.Microsecond)
	// The same colleague is relevant to two users of the connection; a
	// person repeated within a page keeps the later entry.
	ps := []store.Person{person("u1", "a", "Dev", 1), person("u1", "b", "PM", 2), person("u2", "a", "Dev", 1), person("u1", "b", "PM", 3)}
	if n := upsert(ps, round1); n != 3 {
		t.Fatalf("first upsert changed %d rows, want 3", n)
	}
	var rank int
	if err := s.Pool().QueryRow(ctx, "SELECT relevance_rank FROM people WHERE user_id = 'u1' AND id = 'b'").Scan(&rank); err != nil || rank != 3 {
		t.Fatalf("rank of b = %d (%v), want the later entry's 3", rank, err)
	}

	// The next round: unchanged people are only marked seen; a changed rank
	// or title rewrites the row; whoever is not listed is retired.
	round2 := round1.Add(time.Minute)
	ps = []store.Person{person("u1", "b", "PM", 3), person("u2", "a", "Lead", 1)}
	if n := upsert(ps[:1], round2); n != 0 {
		t.Fatalf("unchanged person: upsert changed %d rows, want 0", n)
	}
	if n := upsert(ps[1:], round2); n != 1 {
		t.Fatalf("changed title: upsert changed %d rows, want 1", n)
	}
	if n := upsert([]store.Person{person("u1", "b", "PM", 1)}, round2); n != 1 {
		t.Fatalf("changed rank: upsert changed %d rows, want 1", n)
	}
	if n := tx(func(tx pgx.Tx) (int64, error) { return s.RetireUnseenPeopleTx(ctx, tx, c.ID, "u1", round2) }); n != 1 {
		t.Fatalf("retired %d people of u1, want 1 (a)", n)
	}
	var live int
	if err := s.Pool().QueryRow(ctx, "SELECT count(*) FROM people WHERE deleted_at IS NULL").Scan(&live); err != nil || live != 2 {
		t.Fatalf("%d live people (%v), want 2: u2's a must survive u1's retirement", live, err)
	}
	// A retired person listed again comes back.
	if n := upsert([]store.Person{person("u1", "a", "Dev", 2)}, round2.Add(time.Minute)); n != 1 {
		t.Fatalf("returning person: upsert changed %d rows, want 1", n)
	}
	if err := s.Pool().QueryRow(ctx, "SELECT count(*) FROM people WHERE deleted_at IS NULL").Scan(&live); err != nil || live != 3 {
		t.Fatalf("%d live people (%v), want 3", live, err)
	}
}
