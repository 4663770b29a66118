package jobs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/graphsync/graphsync/emulator"
)

// hostileMessage is a complete message whose subject and body are spliced
// in verbatim, so that they may hold any bytes or escapes.
func hostileMessage(id, subjectJSON, bodyJSON, extra string) []byte {
	idJSON, _ := json.Marshal(id)
	s := `{"@odata.type":"#microsoft.graph.message","id":` + string(idJSON) +
		`,"createdDateTime":"2025-01-02T03:04:05Z","lastModifiedDateTime":"2025-01-02T03:04:05Z",` +
		`"receivedDateTime":"2025-01-02T03:04:05Z","sentDateTime":"2025-01-02T03:04:05Z",` +
		`"subject":` + subjectJSON + `,"body":{"contentType":"text","content":` + bodyJSON + `}`
	if extra != "" {
		s += "," + extra
	}
	return []byte(s + "}")
}

// incompressible is n letters PostgreSQL cannot compress into an index.
func incompressible(n int) string {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(r.IntN(26))
	}
	return string(b)
}

type hostileCase struct {
	name  string
	items [][]byte // injected in order, next to good messages
	// Stored: id -> subject and body content expected in the tables.
	stored map[string][2]string
	// Quarantined: a substring of the reason an operator reads, per case.
	quarantined string
	check       func(t *testing.T, b *bundle)
}

// TestHostilePayloads injects records Graph should never send into a mail
// folder's delta, between good messages, and checks that the sync neither
// panics nor stalls, stores what can be stored (cleaned deterministically),
// quarantines the rest with a reason and the payload as received, and keeps
// the neighbours on the same page.
func TestHostilePayloads(t *testing.T) {
	t.Parallel()
	tenMB := strings.Repeat("0123456789abcdef", (10<<20)/16)
	deep := strings.Repeat("[", 10000) + strings.Repeat("]", 10000)
	sqlID := "hostile-x'); DROP TABLE mail_messages;--"
	cases := []hostileCase{
		{name: "nul", items: [][]byte{hostileMessage("hostile-nul", `"a\u0000b"`, `"x\u0000y\u0000"`, "")},
			stored: map[string][2]string{"hostile-nul": {"ab", "xy"}}},
		{name: "invalid utf-8", items: [][]byte{hostileMessage("hostile-utf8", "\"bad \xff\xfe end\"", "\"\xc3(\"", "")},
			stored: map[string][2]string{"hostile-utf8": {"bad \uFFFD\uFFFD end", "\uFFFD("}}},
		{name: "lone surrogates", items: [][]byte{hostileMessage("hostile-surrogate", `"x\ud800y"`, `"\udc00 and \ud83d\ude00"`, "")},
			stored: map[string][2]string{"hostile-surrogate": {"x\uFFFDy", "\uFFFD and 😀"}}},
		{name: "10 MB body", items: [][]byte{hostileMessage("hostile-big", `"big"`, `"`+tenMB+`"`, "")},
			stored: map[string][2]string{"hostile-big": {"big", tenMB}}},
		{name: "unknown odata type", items: [][]byte{bytes.Replace(hostileMessage("hostile-type", `"future"`, `"b"`, ""),
			[]byte("#microsoft.graph.message"), []byte("#microsoft.graph.futureMessageKind"), 1)},
			stored: map[string][2]string{"hostile-type": {"future", "b"}}},
		{name: "sql in id", items: [][]byte{hostileMessage(sqlID, `"O'Brien \"quoted\""`, `"'; DROP TABLE quarantine;--"`, "")},
			stored: map[string][2]string{sqlID: {`O'Brien "quoted"`, "'; DROP TABLE quarantine;--"}}},
		{name: "same id twice", items: [][]byte{hostileMessage("hostile-dup", `"first"`, `"1"`, ""), hostileMessage("hostile-dup", `"second"`, `"2"`, "")},
			stored: map[string][2]string{"hostile-dup": {"second", "2"}}},
		{name: "deep nesting", items: [][]byte{hostileMessage("hostile-deep", `"deep"`, `"d"`, `"extensions":`+deep)},
			quarantined: "exceeded max depth"},
		{name: "wrong type", items: [][]byte{hostileMessage("hostile-type42", `42`, `"b"`, "")},
			quarantined: "field subject"},
		{name: "missing id", items: [][]byte{bytes.Replace(hostileMessage("", `"no id"`, `"b"`, ""), []byte(`"id":"",`), nil, 1)},
			quarantined: "message without an id"},
		{name: "id too long", items: [][]byte{hostileMessage("hostile-long-"+strings.Repeat("i", 3000), `"long"`, `"b"`, "")},
			quarantined: "more than the 1024 an id may have"},
		{name: "sender too long to index", items: [][]byte{hostileMessage("hostile-index", `"s"`, `"b"`,
			`"from":{"emailAddress":{"address":"`+incompressible(20000)+`@example.com"}}`)},
			quarantined: "PostgreSQL refused the record"},
	}

	b := setup(t, options{emu: emulator.Config{Users: 1, MessagesPerUser: 12}})
	user := b.em.Users()[0].ID
	inject := func(item []byte) {
		t.Helper()
		if err := b.em.InjectRaw(user, "inbox", item); err != nil {
			t.Fatal(err)
		}
	}
	good := func(n int) string { return "hostile-good-" + string(rune('a'+n)) }
	inject(hostileMessage(good(0), `"good"`, `"g"`, ""))
	for i, c := range cases {
		for _, item := range c.items {
			inject(item)
		}
		inject(hostileMessage(good(i+1), `"good"`, `"g"`, ""))
	}

	b.syncNow(t, 3*time.Minute)

	ctx := context.Background()
	pool := b.store.Pool()
	conn := b.conns[0].ID
	for i := 0; i <= len(cases); i++ {
		if n := b.count(t, "SELECT count(*) FROM mail_messages WHERE connection_id = $1 AND id = $2 AND deleted_at IS NULL", conn, good(i)); n != 1 {
			t.Errorf("neighbour %s stored %d times, want 1", good(i), n)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for id, want := range c.stored {
				var subject, rawSubject, content string
				err := pool.QueryRow(ctx, `SELECT subject, raw->>'subject', raw->'body'->>'content' FROM mail_messages
					WHERE connection_id = $1 AND id = $2 AND deleted_at IS NULL`, conn, id).Scan(&subject, &rawSubject, &content)
				if err != nil {
					t.Fatalf("%.60s not stored: %v", id, err)
				}
				if subject != want[0] || rawSubject != want[0] {
					t.Errorf("subject %q, raw subject %q, want %q", subject, rawSubject, want[0])
				}
				if content != want[1] {
					t.Errorf("body %.60q (%d bytes), want %.60q (%d bytes)", content, len(content), want[1], len(want[1]))
				}
			}
			if c.quarantined == "" {
				return
			}
			rows, err := pool.Query(ctx, `SELECT resource, error, payload FROM quarantine WHERE connection_id = $1 AND position($2 in error) > 0`, conn, c.quarantined)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var found bool
			for rows.Next() {
				var resource, reason string
				var payload []byte
				if err := rows.Scan(&resource, &reason, &payload); err != nil {
					t.Fatal(err)
				}
				if bytes.Equal(payload, c.items[0]) {
					found = true
					if resource != "mail" {
						t.Errorf("quarantined under resource %q", resource)
					}
					t.Logf("quarantined: %.200s", reason)
				}
			}
			if !found {
				var reasons []string
				r2, _ := pool.Query(ctx, "SELECT left(error, 200) FROM quarantine WHERE connection_id = $1", conn)
				for r2.Next() {
					var s string
					_ = r2.Scan(&s)
					reasons = append(reasons, s)
				}
				r2.Close()
				t.Fatalf("no quarantined record with reason containing %q and the payload as received; quarantine holds %q", c.quarantined, reasons)
			}
		})
	}

	// The table survived the id above, and no stream is stuck mid-round.
	if n := b.count(t, "SELECT count(*) FROM mail_messages WHERE connection_id = $1 AND deleted_at IS NULL", conn); n < len(cases) {
		t.Fatalf("only %d messages stored", n)
	}
	var stuck []string
	rows, err := pool.Query(ctx, `SELECT stream || ': ' || status || coalesce(' ' || last_error, '') FROM sync_state
		WHERE connection_id = $1 AND (next_link IS NOT NULL OR status <> 'ok' OR (stream <> '' AND delta_link IS NULL))`, conn)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		stuck = append(stuck, s)
	}
	rows.Close()
	if len(stuck) > 0 {
		t.Fatalf("streams not at rest after the sync: %q", stuck)
	}
	// Later passes go on from there, and quarantine nothing twice.
	before := b.count(t, "SELECT count(*) FROM quarantine WHERE connection_id = $1", conn)
	b.em.Mutate(20)
	b.syncNow(t, time.Minute)
	if after := b.count(t, "SELECT count(*) FROM quarantine WHERE connection_id = $1", conn); after != before {
		t.Fatalf("quarantine grew from %d to %d on a later pass", before, after)
	}
}
