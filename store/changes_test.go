package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/pgtest"
	"github.com/graphsync/graphsync/store"
)

// readAll reads the feed from cursor until it has caught up, in pages of
// limit, and returns the changes and the cursor after them.
func readAll(t testing.TB, s *store.Store, from graphsync.Cursor, f store.ChangeFilter, limit int) ([]graphsync.Change, graphsync.Cursor) {
	t.Helper()
	var out []graphsync.Change
	for {
		p, err := s.ReadChanges(context.Background(), from, f, limit)
		if err != nil {
			t.Fatal(err)
		}
		page, next := p.Changes, p.Next
		out = append(out, page...)
		from = next
		if len(page) < limit {
			return out, from
		}
	}
}

// settled waits until no transaction older than the newest change is in
// progress anywhere on the server (parallel tests share its transaction
// ids) and returns the cursor of that moment, which has read everything.
func settled(t testing.TB, s *store.Store) graphsync.Cursor {
	t.Helper()
	top := queryValue[string](t, s, "SELECT coalesce(max(xid), '0')::text FROM changes")
	newest, _ := strconv.ParseUint(top, 10, 64)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		c := now(t, s)
		if c.Seen.FirstInvisible() > newest {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("transactions older than %d still in progress: %s", newest, c)
		}
	}
}

func now(t testing.TB, s *store.Store) graphsync.Cursor {
	t.Helper()
	c, err := s.ChangesNow(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// ops summarises changes as "table op item" lines.
func ops(cs []graphsync.Change) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Table+" "+string(c.Op)+" "+c.Item)
	}
	return out
}

func dataOf(t testing.TB, c graphsync.Change) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(c.Data, &m); err != nil {
		t.Fatalf("change %d data: %v", c.Seq, err)
	}
	return m
}

// Every write of a synced row logs one change in its transaction, with the
// row's key and data but not its raw JSON; rows an upsert leaves alone, and
// rows a full round only marks seen, log nothing.
func TestChangeFeedRecordsEveryWrite(t *testing.T) {
	t.Parallel()
	messages := graphsync.Mail.Items()
	for _, size := range []int{3, 200} { // multi-row INSERT and COPY paths
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			t.Parallel()
			s := pgtest.Store(t)
			c := newConnection(t, s, "u1", store.Tokens{AccessToken: "a", RefreshToken: "r"})
			start := now(t, s)
			var ms []graphsync.Row
			for i := range size {
				ms = append(ms, msg(t, fmt.Sprintf("m%d", i), "inbox", fmt.Sprintf("hello %d", i)))
			}
			upsert(t, s, messages, c.ID, ms, nil)
			got, cur := readAll(t, s, start, store.ChangeFilter{}, 50)
			if len(got) != size {
				t.Fatalf("%d new rows logged %d changes", size, len(got))
			}
			for i, ch := range got {
				if ch.Op != graphsync.Created || ch.Table != "mail_messages" || ch.Resource != "mail" || ch.Connection != c.ID || ch.User != "u1" {
					t.Fatalf("change %d: %+v", i, ch)
				}
				d := dataOf(t, ch)
				if _, ok := d["raw"]; ok {
					t.Fatalf("change data holds raw: %s", ch.Data)
				}
				if d["id"] != ch.Item || d["subject"] == nil || d["synced_at"] == nil {
					t.Fatalf("change data %s does not describe item %s", ch.Data, ch.Item)
				}
				if string(ch.Key) != fmt.Sprintf(`{"id": %q}`, ch.Item) {
					t.Fatalf("change key %s", ch.Key)
				}
			}

			// Unchanged rows, and a full round that only sees them, log nothing.
			upsert(t, s, messages, c.ID, ms, nil)
			seen := time.Now()
			upsert(t, s, messages, c.ID, ms, &seen)
			if got, _ := readAll(t, s, cur, store.ChangeFilter{}, 50); len(got) != 0 {
				t.Fatalf("unchanged rows logged %v", ops(got))
			}

			ms[1] = msg(t, "m1", "inbox", "changed")
			upsert(t, s, messages, c.ID, ms, nil)
			remove(t, s, messages, stream(c, graphsync.Mail, "u1", "inbox"), graphsync.Window{}, "m2")
			got, cur = readAll(t, s, cur, store.ChangeFilter{}, 50)
			if want := []string{"mail_messages updated m1", "mail_messages deleted m2"}; !slices.Equal(ops(got), want) {
				t.Fatalf("got %v, want %v", ops(got), want)
			}
			if d := dataOf(t, got[0]); d["subject"] != "changed" {
				t.Fatalf("updated data %s", got[0].Data)
			}
			if d := dataOf(t, got[1]); d["deleted_at"] == nil {
				t.Fatalf("deleted data %s has no deleted_at", got[1].Data)
			}
			// A retired row listed again is live again.
			upsert(t, s, messages, c.ID, []graphsync.Row{msg(t, "m2", "inbox", "back")}, nil)
			got, _ = readAll(t, s, cur, store.ChangeFilter{}, 50)
			if want := []string{"mail_messages created m2"}; !slices.Equal(ops(got), want) {
				t.Fatalf("got %v, want %v", ops(got), want)
			}
		})
	}
}

// A child row (an attendee) is replaced with its parent: one that comes
// back unchanged logs nothing, a changed one is an update, a dropped one a
// deletion.
func TestChangeFeedChildRows(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	c := newConnection(t, s, "u1", store.Tokens{AccessToken: "a", RefreshToken: "r"})
	events := graphsync.Calendar.Items()
	start := now(t, s)
	upsert(t, s, events, c.ID, []graphsync.Row{event(t, "e1", inWindow, "ann", "bob")}, nil)
	got, cur := readAll(t, s, start, store.ChangeFilter{}, 10)
	if want := []string{"calendar_events created e1", "calendar_event_attendees created 0", "calendar_event_attendees created 1"}; !slices.Equal(ops(got), want) {
		t.Fatalf("got %v, want %v", ops(got), want)
	}
	if got[1].User != "u1" || string(got[1].Key) != `{"ordinal": 0, "event_id": "e1"}` {
		t.Fatalf("attendee change %+v, key %s", got[1], got[1].Key)
	}

	// The event changes, its attendees do not.
	ev := eventJSON("e1", inWindow, "ann", "bob")
	ev["subject"] = "Moved"
	upsert(t, s, events, c.ID, []graphsync.Row{item(t, events, graphsync.MapContext{User: "u1"}, ev)}, nil)
	got, cur = readAll(t, s, cur, store.ChangeFilter{}, 10)
	if want := []string{"calendar_events updated e1"}; !slices.Equal(ops(got), want) {
		t.Fatalf("got %v, want %v", ops(got), want)
	}

	// bob becomes carol; the second attendee is dropped next.
	upsert(t, s, events, c.ID, []graphsync.Row{event(t, "e1", inWindow, "ann", "carol")}, nil)
	got, cur = readAll(t, s, cur, store.ChangeFilter{}, 10)
	if want := []string{"calendar_events updated e1", "calendar_event_attendees updated 1"}; !slices.Equal(ops(got), want) {
		t.Fatalf("got %v, want %v", ops(got), want)
	}
	if d := dataOf(t, got[1]); d["name"] != "carol" {
		t.Fatalf("updated attendee %s", got[1].Data)
	}
	upsert(t, s, events, c.ID, []graphsync.Row{event(t, "e1", inWindow, "ann")}, nil)
	got, _ = readAll(t, s, cur, store.ChangeFilter{}, 10)
	if want := []string{"calendar_events updated e1", "calendar_event_attendees deleted 1"}; !slices.Equal(ops(got), want) {
		t.Fatalf("got %v, want %v", ops(got), want)
	}
	if d := dataOf(t, got[1]); d["name"] != "carol" {
		t.Fatalf("deleted attendee's data %s is not as it was", got[1].Data)
	}
}

// A connection's events are in the feed: needs_reauth, needs_admin,
// disabled, enabled and deleted, once each; a token refresh is none, its tokens never in it;
// and the rows removed with the connection are not logged one by one.
func TestChangeFeedConnectionEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.Store(t)
	start := now(t, s)
	c := newConnection(t, s, "u1", store.Tokens{AccessToken: "access-token-secret", RefreshToken: "refresh-token-secret"})
	upsert(t, s, graphsync.Calendar.Items(), c.ID, []graphsync.Row{event(t, "e1", inWindow, "ann")}, nil)
	if err := s.InTx(ctx, func(tx store.Tx) error {
		return s.SaveTokensTx(ctx, tx, c.ID, store.Tokens{AccessToken: "access-token-secret-2", Expiry: time.Now().Add(time.Hour)})
	}); err != nil {
		t.Fatal(err)
	}
	for _, st := range []string{store.StatusNeedsReauth, store.StatusNeedsReauth, store.StatusNeedsAdmin, store.StatusDisabled, store.StatusActive} {
		if err := s.SetStatus(ctx, c.ID, st, "AADSTS70008", "the refresh token expired"); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteConnection(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	got, _ := readAll(t, s, start, store.ChangeFilter{Connections: []int64{c.ID}}, 100)
	want := []string{"connections created " + strconv.FormatInt(c.ID, 10),
		"calendar_events created e1", "calendar_event_attendees created 0",
		"connections needs_reauth " + strconv.FormatInt(c.ID, 10), "connections needs_admin " + strconv.FormatInt(c.ID, 10),
		"connections disabled " + strconv.FormatInt(c.ID, 10),
		"connections enabled " + strconv.FormatInt(c.ID, 10), "connections deleted " + strconv.FormatInt(c.ID, 10)}
	if !slices.Equal(ops(got), want) {
		t.Fatalf("got %v, want %v", ops(got), want)
	}
	reauth := dataOf(t, got[3])
	if reauth["status"] != "needs_reauth" || reauth["last_error_code"] != "AADSTS70008" || reauth["user_principal_name"] != "u1@contoso.test" {
		t.Fatalf("needs_reauth data %s", got[3].Data)
	}
	dump := text(t, s, "SELECT string_agg(data::text, ' ') FROM changes")
	for _, secret := range []string{"access-token-secret", "refresh-token-secret"} {
		if strings.Contains(dump, secret) {
			t.Fatalf("the change feed holds a token")
		}
	}
	// A resource filter keeps the connection's events, which concern every
	// resource.
	got, _ = readAll(t, s, start, store.ChangeFilter{Resources: []string{"mail"}, Connections: []int64{c.ID}}, 100)
	if len(got) != 6 || got[0].Table != "connections" {
		t.Fatalf("filtered on mail: %v", ops(got))
	}
}

// The feed's cursor never skips a committed change and reads each once, in
// commit order per row, while many writer transactions commit in an order
// of their own: each waits a random time before committing, so changes
// with a lower seq routinely commit after higher ones were read. Writers
// bump a version in shared rows under the row lock, so each row's versions
// commit as 1, 2, 3...; the reader must see exactly that sequence.
//
// Ordering by seq or changed_at alone fails here (see
// TestSeqCursorSkipsLateCommits for the interleaving, made deterministic):
// a reader that had read seq 11 would never go back for seq 10 committed
// after it.
func TestChangeFeedConcurrentWritersNeverSkip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.Store(t)
	c := newConnection(t, s, "u1", store.Tokens{AccessToken: "a", RefreshToken: "r"})
	messages := graphsync.Mail.Items()
	const shared, writers, opsPerWriter = 6, 10, 30
	var initial []graphsync.Row
	for i := range shared {
		initial = append(initial, msg(t, fmt.Sprintf("s%d", i), "inbox", "v0"))
	}
	upsert(t, s, messages, c.ID, initial, nil)
	start := now(t, s)

	var mu sync.Mutex
	created := map[string]bool{} // ids of new rows whose transaction committed
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 15))
			for i := range opsPerWriter {
				id := fmt.Sprintf("s%d", rng.IntN(shared))
				fresh := fmt.Sprintf("w%d-%d", w, i)
				rollback := rng.IntN(10) == 0
				err := s.InTx(ctx, func(tx store.Tx) error {
					var subject string
					if err := tx.QueryRow(ctx, "SELECT subject FROM mail_messages WHERE connection_id = $1 AND id = $2 FOR UPDATE", c.ID, id).Scan(&subject); err != nil {
						return err
					}
					v, _ := strconv.Atoi(strings.TrimPrefix(subject, "v"))
					rows := []graphsync.Row{msg(t, id, "inbox", fmt.Sprintf("v%d", v+1))}
					if rng.IntN(2) == 0 {
						rows = append(rows, msg(t, fresh, "inbox", "new"))
					}
					if _, err := s.UpsertTx(ctx, tx, messages, c.ID, rows, nil); err != nil {
						return err
					}
					time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
					if rollback {
						return errRollback
					}
					if len(rows) == 2 {
						mu.Lock()
						created[fresh] = true
						mu.Unlock()
					}
					return nil
				})
				if err != nil && !errors.Is(err, errRollback) {
					errs <- err
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	versions := map[string]int{}
	seen := map[string]int{}
	cur := start
	read := func() int {
		p, err := s.ReadChanges(ctx, cur, store.ChangeFilter{}, 7)
		if err != nil {
			t.Fatal(err)
		}
		page, next := p.Changes, p.Next
		cur = next
		for _, ch := range page {
			if ch.Table != "mail_messages" {
				t.Fatalf("unexpected change %+v", ch)
			}
			subject, _ := dataOf(t, ch)["subject"].(string)
			if strings.HasPrefix(ch.Item, "w") {
				seen[ch.Item]++
				continue
			}
			v, _ := strconv.Atoi(strings.TrimPrefix(subject, "v"))
			if v != versions[ch.Item]+1 {
				t.Fatalf("row %s: read version %d after %d (seq %d): a change was skipped, repeated or out of commit order", ch.Item, v, versions[ch.Item], ch.Seq)
			}
			versions[ch.Item] = v
		}
		return len(page)
	}
	polls := 0
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		default:
		}
		read()
		polls++
		time.Sleep(time.Duration(rand.IntN(1500)) * time.Microsecond)
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for read() > 0 {
	}

	for i := range shared {
		id := fmt.Sprintf("s%d", i)
		final, _ := strconv.Atoi(strings.TrimPrefix(text(t, s, "SELECT subject FROM mail_messages WHERE connection_id = $1 AND id = $2", c.ID, id), "v"))
		if versions[id] != final {
			t.Errorf("row %s: read up to version %d, committed %d", id, versions[id], final)
		}
	}
	for id := range created {
		if seen[id] != 1 {
			t.Errorf("new row %s read %d times", id, seen[id])
		}
	}
	for id, n := range seen {
		if !created[id] {
			t.Errorf("read new row %s %d times, whose transaction rolled back", id, n)
		}
	}
	total := 0
	for _, v := range versions {
		total += v
	}
	if total < writers*opsPerWriter/2 || polls < 10 {
		t.Fatalf("only %d versions committed over %d polls: the test proves little", total, polls)
	}
}

var errRollback = errors.New("rollback")

// lateCommit writes message "early" in a transaction it leaves open, then
// message "late" in one that commits: the early change has the lower seq
// and the earlier time, but commits last, when the returned func is
// called.
func lateCommit(t *testing.T, s *store.Store, c *store.Connection) func() {
	t.Helper()
	ctx := context.Background()
	slow, err := s.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = slow.Rollback(ctx) })
	if _, err := s.UpsertTx(ctx, slow, graphsync.Mail.Items(), c.ID, []graphsync.Row{msg(t, "early", "inbox", "x")}, nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	upsert(t, s, graphsync.Mail.Items(), c.ID, []graphsync.Row{msg(t, "late", "inbox", "x")}, nil)
	return func() {
		t.Helper()
		if err := slow.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// The interleaving that defeats a cursor on seq (or on changed_at): a
// transaction writes first, so its change has the lower seq and the earlier
// time, but commits last. A reader that moved past the later change never
// sees it; the feed's snapshot cursor does.
func TestSeqCursorSkipsLateCommits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.Store(t)
	c := newConnection(t, s, "u1", store.Tokens{AccessToken: "a", RefreshToken: "r"})
	start := now(t, s)
	var lastSeq int64
	var lastAt time.Time
	if err := s.Pool().QueryRow(ctx, "SELECT max(seq), max(changed_at) FROM changes").Scan(&lastSeq, &lastAt); err != nil {
		t.Fatal(err)
	}

	commitEarly := lateCommit(t, s, c)

	// Readers poll: the naive ones move past "late".
	naive := func(where string, arg any) []string {
		return strings.Fields(text(t, s, "SELECT coalesce(string_agg(item_id, ' ' ORDER BY seq), '') FROM changes WHERE "+where, arg))
	}
	if got := naive("seq > $1", lastSeq); !slices.Equal(got, []string{"late"}) {
		t.Fatalf("by seq: %v", got)
	}
	afterLate := queryValue[int64](t, s, "SELECT max(seq) FROM changes")
	lateAt := queryValue[time.Time](t, s, "SELECT max(changed_at) FROM changes")
	got, cur := readAll(t, s, start, store.ChangeFilter{}, 10)
	if !slices.Equal(ops(got), []string{"mail_messages created late"}) {
		t.Fatalf("feed: %v", ops(got))
	}

	commitEarly()
	if got := naive("seq > $1", afterLate); len(got) != 0 {
		t.Fatalf("by seq after the late commit: %v (expected the naive cursor to skip it)", got)
	}
	if got := naive("changed_at > $1", lateAt); len(got) != 0 {
		t.Fatalf("by changed_at after the late commit: %v (expected the naive cursor to skip it)", got)
	}
	got, _ = readAll(t, s, cur, store.ChangeFilter{}, 10)
	if !slices.Equal(ops(got), []string{"mail_messages created early"}) {
		t.Fatalf("the feed after the late commit: %v, want the early change", ops(got))
	}
}

// Pruning drops changes older than the retention, or read by every
// consumer given; a cursor that had not read a pruned change is refused
// with the oldest cursor available, and one that had is still served.
func TestChangeFeedRetention(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.Store(t)
	c := newConnection(t, s, "u1", store.Tokens{AccessToken: "a", RefreshToken: "r"})
	messages := graphsync.Mail.Items()
	start := now(t, s)
	upsert(t, s, messages, c.ID, []graphsync.Row{msg(t, "m1", "inbox", "a")}, nil)
	upsert(t, s, messages, c.ID, []graphsync.Row{msg(t, "m2", "inbox", "a")}, nil)
	if got, _ := readAll(t, s, start, store.ChangeFilter{}, 10); len(got) != 2 {
		t.Fatalf("read %v", ops(got))
	}
	caughtUp := settled(t, s)

	// Nothing is older than an hour.
	if n, err := s.PruneChanges(ctx, time.Now().Add(-time.Hour), nil); err != nil || n != 0 {
		t.Fatalf("pruned %d (%v), want 0", n, err)
	}
	if got, _ := readAll(t, s, start, store.ChangeFilter{}, 10); len(got) != 2 {
		t.Fatalf("after pruning nothing, read %v", ops(got))
	}
	// Everything is older than a moment ago.
	time.Sleep(10 * time.Millisecond)
	n, err := s.PruneChanges(ctx, time.Now(), nil)
	if err != nil || n != 3 {
		t.Fatalf("pruned %d (%v), want the connection's creation and two messages", n, err)
	}
	_, err = s.ReadChanges(ctx, start, store.ChangeFilter{}, 10)
	var expired *store.CursorExpiredError
	if !errors.As(err, &expired) {
		t.Fatalf("reading from before the pruned changes: %v, want a CursorExpiredError", err)
	}
	oldest, oerr := s.OldestChanges(ctx)
	if oerr != nil {
		t.Fatal(oerr)
	}
	if expired.Oldest.String() != oldest.String() || !strings.Contains(err.Error(), fmt.Sprintf("%q", oldest.String())) {
		t.Fatalf("error %q does not name the oldest cursor %q", err, oldest)
	}
	// A reader that had read them goes on; so does one from the oldest
	// cursor, and one from the start of the feed.
	upsert(t, s, messages, c.ID, []graphsync.Row{msg(t, "m3", "inbox", "a")}, nil)
	for _, from := range []graphsync.Cursor{caughtUp, oldest, {}} {
		if got, _ := readAll(t, s, from, store.ChangeFilter{}, 10); !slices.Equal(ops(got), []string{"mail_messages created m3"}) {
			t.Fatalf("from %q: %v", from, ops(got))
		}
	}

	// Early pruning of what every consumer read.
	mid := settled(t, s)
	upsert(t, s, messages, c.ID, []graphsync.Row{msg(t, "m4", "inbox", "a")}, nil)
	if n, err := s.PruneChanges(ctx, time.Now().Add(-time.Hour), []graphsync.Cursor{mid, {}}); err != nil || n != 0 {
		t.Fatalf("a consumer at the start of the feed: pruned %d (%v), want 0", n, err)
	}
	if n, err := s.PruneChanges(ctx, time.Now().Add(-time.Hour), []graphsync.Cursor{mid}); err != nil || n != 1 {
		t.Fatalf("pruned %d (%v) read by the only consumer, want m3", n, err)
	}
	if got, _ := readAll(t, s, mid, store.ChangeFilter{}, 10); !slices.Equal(ops(got), []string{"mail_messages created m4"}) {
		t.Fatalf("the consumer after early pruning read %v", ops(got))
	}
}

// Every table graphsync writes feeds the log, with the key its descriptor
// gives and every column but raw and seen_at in an entry's data: a new
// table or column needs changes_track in its migration.
func TestEveryTableFeedsTheLog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.Store(t)
	owned := map[*graphsync.Table]bool{}
	for _, r := range graphsync.All() {
		for _, table := range r.Tables() {
			if owned[table] {
				continue // a library's items are the drive's
			}
			owned[table] = true
			var resource string
			var keys, columns, want []string
			err := s.Pool().QueryRow(ctx, "SELECT resource, key_columns, columns FROM change_tables WHERE table_name = $1", table.Name).Scan(&resource, &keys, &columns)
			if err != nil {
				t.Errorf("%s does not feed the change log (changes_track in its migration): %v", table.Name, err)
				continue
			}
			rows, err := s.Pool().Query(ctx, `SELECT attname::text FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0
				AND NOT attisdropped AND attname NOT IN ('raw', 'seen_at') ORDER BY attnum`, table.Name)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var c string
				if err := rows.Scan(&c); err != nil {
					t.Fatal(err)
				}
				want = append(want, c)
			}
			rows.Close()
			if resource != r.Name() || !slices.Equal(keys, table.KeyColumns()) || !slices.Equal(columns, want) {
				t.Errorf("%s feeds the log as resource %s, key %v, columns %v; want %s, %v, %v (run changes_track again)",
					table.Name, resource, keys, columns, r.Name(), table.KeyColumns(), want)
			}
			triggers := count(t, s, "SELECT count(*) FROM pg_trigger WHERE tgrelid = $1::regclass AND tgname LIKE 'changes_%'", table.Name)
			child := slices.ContainsFunc(graphsync.Tables(), func(p *graphsync.Table) bool { return p.Child == table })
			if wantN := map[bool]int{true: 3, false: 2}[child]; triggers != wantN {
				t.Errorf("%s has %d change triggers, want %d", table.Name, triggers, wantN)
			}
		}
	}
}

// A transaction that writes changes notifies graphsync_changes when it
// commits, not before, once per table and connection.
func TestChangeFeedNotifiesOnCommit(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := pgtest.Store(t)
	c := newConnection(t, s, "u1", store.Tokens{AccessToken: "a", RefreshToken: "r"})
	notices := make(chan store.ChangeNotice, 10)
	ready := make(chan struct{})
	lctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- s.ListenChanges(lctx, func() { close(ready) }, func(n store.ChangeNotice) { notices <- n })
	}()
	<-ready
	tx, err := s.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rows := []graphsync.Row{msg(t, "m1", "inbox", "a"), msg(t, "m2", "inbox", "a")}
	if _, err := s.UpsertTx(ctx, tx, graphsync.Mail.Items(), c.ID, rows, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpsertTx(ctx, tx, graphsync.Mail.Folders(), c.ID, []graphsync.Row{mailFolder(t, "inbox")}, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-notices:
		t.Fatalf("notified before commit: %+v", n)
	case <-time.After(200 * time.Millisecond):
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var got []store.ChangeNotice
	for len(got) < 2 {
		select {
		case n := <-notices:
			got = append(got, n)
		case <-ctx.Done():
			t.Fatalf("notices after commit: %+v", got)
		}
	}
	slices.SortFunc(got, func(a, b store.ChangeNotice) int { return strings.Compare(a.Table, b.Table) })
	want := []store.ChangeNotice{{Table: "mail_folders", Resource: "mail", Connection: c.ID}, {Table: "mail_messages", Resource: "mail", Connection: c.ID}}
	if !slices.Equal(got, want) {
		t.Fatalf("notices %+v, want %+v", got, want)
	}
	select {
	case n := <-notices:
		t.Fatalf("a third notice: %+v", n)
	case <-time.After(100 * time.Millisecond):
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// The SQL README.md gives apps reads the feed as the store does: a change
// committed late, with a lower seq, is read on the next poll, nothing is
// read twice, and a poll with nothing new returns nothing.
func TestDocumentedCursorQuery(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```sql\n(-- graphsync: the changes after cursor \\$1.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no query of the changes after a cursor")
	}
	query := string(m[1])
	s := pgtest.Store(t)
	c := newConnection(t, s, "u1", store.Tokens{AccessToken: "a", RefreshToken: "r"})
	cursor := text(t, s, "SELECT horizon || ':' || horizon || ':' FROM change_feed")
	poll := func() []string {
		t.Helper()
		rows, err := s.Pool().Query(ctx, query, cursor)
		if err != nil {
			t.Fatalf("the documented query: %v", err)
		}
		defer rows.Close()
		var items []string
		for rows.Next() {
			var next, table, item string
			var seq int64
			var resource, user *string
			var conn int64
			var key, data []byte
			var op string
			var at time.Time
			if err := rows.Scan(&next, &seq, &table, &resource, &conn, &user, &item, &key, &op, &at, &data); err != nil {
				t.Fatal(err)
			}
			cursor = next
			items = append(items, table+" "+op+" "+item)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return items
	}
	if got := poll(); !slices.Equal(got, []string{"connections created " + strconv.FormatInt(c.ID, 10)}) {
		t.Fatalf("from the oldest change: %v", got)
	}
	commitEarly := lateCommit(t, s, c)
	if got := poll(); !slices.Equal(got, []string{"mail_messages created late"}) {
		t.Fatalf("before the slow commit: %v", got)
	}
	commitEarly()
	if got := poll(); !slices.Equal(got, []string{"mail_messages created early"}) {
		t.Fatalf("after the slow commit: %v", got)
	}
	if got := poll(); len(got) != 0 {
		t.Fatalf("nothing new, read %v", got)
	}
	if behind := queryValue[bool](t, s, "SELECT horizon > pg_snapshot_xmin($1::pg_snapshot) FROM change_feed", cursor); behind {
		t.Fatal("the documented retention check says a current cursor fell behind")
	}
}

// What a cursor has yet to read: counted with the age of the oldest, and
// refused behind the retention.
func TestPendingChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.Store(t)
	c := newConnection(t, s, "u1", store.Tokens{AccessToken: "a", RefreshToken: "r"})
	start := settled(t, s)
	before := time.Now().Add(-time.Second)
	upsert(t, s, graphsync.Mail.Items(), c.ID, []graphsync.Row{msg(t, "m1", "inbox", "a"), msg(t, "m2", "inbox", "a")}, nil)
	p, err := s.PendingChanges(ctx, start, store.ChangeFilter{})
	if err != nil || p.Changes != 2 || p.Oldest.Before(before) {
		t.Fatalf("pending %+v (%v), want 2 just written", p, err)
	}
	if p, err := s.PendingChanges(ctx, start, store.ChangeFilter{Resources: []string{"calendar"}}); err != nil || p.Changes != 0 || !p.Oldest.IsZero() {
		t.Fatalf("pending calendar changes %+v (%v), want none", p, err)
	}
	page, err := s.ReadChanges(ctx, start, store.ChangeFilter{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := s.PendingChanges(ctx, page.Next, store.ChangeFilter{}); err != nil || p.Changes != 1 {
		t.Fatalf("pending within the batch %+v (%v), want 1", p, err)
	}
	settled(t, s)
	if _, err := s.PruneChanges(ctx, time.Now().Add(time.Minute), nil); err != nil {
		t.Fatal(err)
	}
	var expired *store.CursorExpiredError
	if _, err := s.PendingChanges(ctx, start, store.ChangeFilter{}); !errors.As(err, &expired) {
		t.Fatalf("pending behind the retention: %v, want a CursorExpiredError", err)
	}
}
