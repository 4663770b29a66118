package jobs_test

import (
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/graphsync/graphsync/emulator"
)

// The example queries of docs/schema.md run against synced data and return
// rows: the documented SQL matches the schema it documents.
func TestSchemaDocExampleQueries(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../docs/schema.md")
	if err != nil {
		t.Fatal(err)
	}
	queries := regexp.MustCompile("(?s)```sql\n(.*?)```").FindAllStringSubmatch(string(doc), -1)
	if len(queries) < 3 {
		t.Fatalf("docs/schema.md has %d example queries, want at least 3", len(queries))
	}
	b := setup(t, options{emu: emulator.Config{Users: 2, MessagesPerUser: 100},
		resources: []string{"mail", "calendar", "drive", "sites", "chats", "channels", "groups"}, sites: selectedSites, application: true})
	b.syncNow(t, 2*time.Minute)
	for _, q := range queries {
		rows, err := b.store.Pool().Query(t.Context(), q[1])
		if err != nil {
			t.Fatalf("example query fails: %v\n%s", err, q[1])
		}
		n := 0
		for rows.Next() {
			n++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			t.Fatalf("example query fails: %v\n%s", err, q[1])
		}
		if n == 0 {
			t.Errorf("example query returns no rows on synced data:\n%s", q[1])
		}
	}
}
