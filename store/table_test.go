package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/pgtest"
	"github.com/graphsync/graphsync/store"
)

// Tables keyed by more than id: chat message ids are unique within a chat
// only, and the same person is relevant to many users. Both write paths
// (a multi-row INSERT below 64 rows, COPY from 64) must keep the owners'
// rows apart, keep the last of a repeated key, and count only changes.
func TestCompositeKeys(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		table *graphsync.Table
		// row is item i of owner (a chat, a user) with value v.
		row func(t testing.TB, owner string, i int, v string) graphsync.Row
		// value reads the value of an owner's item.
		value string
	}{
		{graphsync.Chats.Items(), func(t testing.TB, owner string, i int, v string) graphsync.Row {
			return chatMessage(t, owner, fmt.Sprint(i), v, t0, false)
		}, "SELECT body_content FROM chat_messages WHERE connection_id = $1 AND chat_id = $2 AND id = $3"},
		{graphsync.People.Items(), func(t testing.TB, owner string, i int, v string) graphsync.Row {
			return person(t, owner, fmt.Sprint(i), v, i+1)
		}, "SELECT job_title FROM people WHERE connection_id = $1 AND user_id = $2 AND id = $3"},
	} {
		for _, size := range []int{3, 100} { // 2 × size rows: multi-row INSERT and COPY paths
			t.Run(fmt.Sprintf("%s/%d", tc.table.Name, size), func(t *testing.T) {
				t.Parallel()
				s := pgtest.Store(t)
				c := newConnection(t, s, "u1", store.Tokens{AccessToken: "a", RefreshToken: "r"})
				seen := time.Now().Truncate(time.Microsecond)
				var rows []graphsync.Row
				for i := range size {
					rows = append(rows, tc.row(t, "a", i, "a"), tc.row(t, "b", i, "b"))
				}
				rows = append(rows, tc.row(t, "a", 0, "a again"))
				value := func(owner string, i int) string { return text(t, s, tc.value, c.ID, owner, fmt.Sprint(i)) }

				if n := upsert(t, s, tc.table, c.ID, rows, &seen); n != int64(2*size) {
					t.Fatalf("first upsert changed %d rows, want %d", n, 2*size)
				}
				if n := count(t, s, "SELECT count(*) FROM "+tc.table.Name+" WHERE connection_id = $1", c.ID); n != 2*size {
					t.Fatalf("%d rows stored, want %d", n, 2*size)
				}
				if a, b := value("a", 0), value("b", 0); a != "a again" || b != "b" {
					t.Fatalf("item 0: a's %q (want the later entry), b's %q", a, b)
				}
				seen = seen.Add(time.Minute)
				if n := upsert(t, s, tc.table, c.ID, rows, &seen); n != 0 {
					t.Fatalf("identical upsert changed %d rows, want 0", n)
				}
				rows[3] = tc.row(t, "b", 1, "b changed")
				if n := upsert(t, s, tc.table, c.ID, rows, &seen); n != 1 {
					t.Fatalf("one changed row: upsert changed %d rows", n)
				}
				if a, b := value("a", 1), value("b", 1); a != "a" || b != "b changed" {
					t.Fatalf("item 1 after b's changed: a's %q, b's %q", a, b)
				}
			})
		}
	}
}

// Child rows (an event's attendees, a chat's members) are replaced when
// their parent changes, and only then: a round that finds the parent as it
// was leaves them alone.
func TestChildRowsFollowTheirParent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		parent *graphsync.Table
		row    func(t testing.TB, id string, members ...string) graphsync.Row
		// list names the children of a parent, tamper changes them all.
		list, tamper string
	}{
		{graphsync.Calendar.Items(), func(t testing.TB, id string, members ...string) graphsync.Row {
			return event(t, id, inWindow, members...)
		}, `SELECT coalesce(string_agg(address || ':' || name, ',' ORDER BY address), '') FROM calendar_event_attendees
			WHERE connection_id = $1 AND event_id = $2`,
			"UPDATE calendar_event_attendees SET name = 'x'"},
		{graphsync.Chats.Folders(), chatWith,
			`SELECT coalesce(string_agg(email || ':' || display_name, ',' ORDER BY email), '') FROM chat_members
			WHERE connection_id = $1 AND chat_id = $2`,
			"UPDATE chat_members SET display_name = 'x'"},
	} {
		for _, more := range []int{0, 70} { // parents besides p1 and p2: multi-row INSERT and COPY paths
			t.Run(fmt.Sprintf("%s/%d", tc.parent.Name, 2+more), func(t *testing.T) {
				t.Parallel()
				s := pgtest.Store(t)
				c := newConnection(t, s, "u1", store.Tokens{AccessToken: "a", RefreshToken: "r"})
				children := func(id string) string { return text(t, s, tc.list, c.ID, id) }
				var seen *time.Time
				if tc.parent.Seen { // as a full round would mark them
					now := time.Now()
					seen = &now
				}
				// page is p1 with members, p2 with carol, and the other parents.
				page := func(members ...string) []graphsync.Row {
					rows := []graphsync.Row{tc.row(t, "p1", members...), tc.row(t, "p2", "carol")}
					for i := range more {
						rows = append(rows, tc.row(t, fmt.Sprint("o", i), "dan"))
					}
					return rows
				}

				if n := upsert(t, s, tc.parent, c.ID, page("ann", "bob"), seen); n != int64(2+more) {
					t.Fatalf("first upsert changed %d rows, want %d", n, 2+more)
				}
				if got := children("p1"); got != "ann@contoso.test:ann,bob@contoso.test:bob" {
					t.Fatalf("children of p1: %q", got)
				}
				if _, err := s.Pool().Exec(t.Context(), tc.tamper); err != nil {
					t.Fatal(err)
				}
				if n := upsert(t, s, tc.parent, c.ID, page("ann", "bob"), seen); n != 0 {
					t.Fatalf("unchanged upsert changed %d rows", n)
				}
				if got := children("p1"); got != "ann@contoso.test:x,bob@contoso.test:x" {
					t.Fatalf("children of an unchanged parent were rewritten: %q", got)
				}
				if n := upsert(t, s, tc.parent, c.ID, page("ann"), seen); n != 1 {
					t.Fatalf("one changed parent: upsert changed %d rows", n)
				}
				if got := children("p1"); got != "ann@contoso.test:ann" {
					t.Fatalf("children of the changed parent: %q, want ann's alone, as sent", got)
				}
				if got := children("p2"); got != "carol@contoso.test:x" {
					t.Fatalf("children of the unchanged parent in the same page were rewritten: %q", got)
				}
			})
		}
	}
}
