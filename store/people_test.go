package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/pgtest"
	"github.com/graphsync/graphsync/store"
)

// person is someone relevant to user, at rank in the user's People list.
func person(t testing.TB, user, id, title string, rank int) graphsync.Row {
	return item(t, graphsync.People.Items(), graphsync.MapContext{User: user, Position: rank}, map[string]any{
		"id": id, "displayName": "P " + id, "jobTitle": title,
		"phones": []any{map[string]any{"type": "business", "number": "1"}}})
}

func TestUpsertPeople(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.Store(t)
	c := newConnection(t, s, "u1", store.Tokens{AccessToken: "a", RefreshToken: "r"})
	people := graphsync.People.Items()
	upsertPeople := func(ps []graphsync.Row, seen time.Time) int64 {
		t.Helper()
		return upsert(t, s, people, c.ID, ps, &seen)
	}
	round1 := time.Now().Add(-time.Hour).Truncate(time.Microsecond)
	// The same colleague is relevant to two users of the connection; a
	// person repeated within a page keeps the later entry.
	ps := []graphsync.Row{person(t, "u1", "a", "Dev", 1), person(t, "u1", "b", "PM", 2), person(t, "u2", "a", "Dev", 1),
		person(t, "u1", "b", "PM", 3)}
	if n := upsertPeople(ps, round1); n != 3 {
		t.Fatalf("first upsert changed %d rows, want 3", n)
	}
	var rank int
	if err := s.Pool().QueryRow(ctx, "SELECT relevance_rank FROM people WHERE user_id = 'u1' AND id = 'b'").Scan(&rank); err != nil || rank != 3 {
		t.Fatalf("rank of b = %d (%v), want the later entry's 3", rank, err)
	}

	// The next round: unchanged people are only marked seen; a changed rank
	// or title rewrites the row; whoever is not listed is retired.
	round2 := round1.Add(time.Minute)
	ps = []graphsync.Row{person(t, "u1", "b", "PM", 3), person(t, "u2", "a", "Lead", 1)}
	if n := upsertPeople(ps[:1], round2); n != 0 {
		t.Fatalf("unchanged person: upsert changed %d rows, want 0", n)
	}
	if n := upsertPeople(ps[1:], round2); n != 1 {
		t.Fatalf("changed title: upsert changed %d rows, want 1", n)
	}
	if n := upsertPeople([]graphsync.Row{person(t, "u1", "b", "PM", 1)}, round2); n != 1 {
		t.Fatalf("changed rank: upsert changed %d rows, want 1", n)
	}
	if r := retireUnseen(t, s, people, stream(c, graphsync.People, "u1", ""), round2, graphsync.Window{}); r.Deleted != 1 {
		t.Fatalf("retired %d people of u1, want 1 (a)", r.Deleted)
	}
	if live := count(t, s, "SELECT count(*) FROM people WHERE deleted_at IS NULL"); live != 2 {
		t.Fatalf("%d live people, want 2: u2's a must survive u1's retirement", live)
	}
	// A retired person listed again comes back.
	if n := upsertPeople([]graphsync.Row{person(t, "u1", "a", "Dev", 2)}, round2.Add(time.Minute)); n != 1 {
		t.Fatalf("returning person: upsert changed %d rows, want 1", n)
	}
	if live := count(t, s, "SELECT count(*) FROM people WHERE deleted_at IS NULL"); live != 3 {
		t.Fatalf("%d live people, want 3", live)
	}
}
