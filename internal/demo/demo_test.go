package demo

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/graphsync/graphsync/internal/pglocal"
	"github.com/graphsync/graphsync/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// The demo names the database it creates on the server DATABASE_URL
// names, drops it at the end unless kept, says what it is doing while it
// generates the emulator's data and checks the tables, heads each progress
// block with the time, and reports its peak memory.
func TestDemoNamesAndDropsItsDatabase(t *testing.T) {
	server := pgtest.Server(t)
	t.Setenv("DATABASE_URL", server)
	exists := func(name string) bool {
		t.Helper()
		conn, err := pgx.Connect(context.Background(), server)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		var n int
		if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	nameRe := regexp.MustCompile(`created database (graphsync_demo_\w+) on the server DATABASE_URL names`)
	for _, keep := range []bool{false, true} {
		var out, errOut bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		err := Run(ctx, Options{Users: 2, Messages: 60, Mutations: 20, Seed: 3, Keep: keep}, &out, &errOut)
		cancel()
		if err != nil {
			t.Fatalf("demo (keep %v): %v\n%s\n%s", keep, err, out.String(), errOut.String())
		}
		m := nameRe.FindStringSubmatch(out.String())
		if m == nil {
			t.Fatalf("the demo does not name its database:\n%s", out.String())
		}
		name := m[1]
		if keep {
			t.Cleanup(func() { _ = pglocal.DropDatabase(context.Background(), server, name) })
			if !exists(name) || !strings.Contains(out.String(), "Kept database "+name) {
				t.Errorf("--keep: database %s kept %v; output:\n%s", name, exists(name), out.String())
			}
			continue
		}
		if exists(name) || !strings.Contains(out.String(), "Dropped database "+name+".") {
			t.Errorf("database %s still exists after the demo, or the demo does not say it dropped it:\n%s", name, out.String())
		}
		for _, want := range []string{"generating every user's mail", "generated in", "checked ", "peak memory (RSS)",
			"subscriptions active", "notifications delivered", "changes synced through notifications"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("demo output lacks %q:\n%s", want, out.String())
			}
		}
		// The tenant's SharePoint sites are synced, summed up and checked.
		for _, want := range []*regexp.Regexp{
			regexp.MustCompile(`the tenant syncs the document libraries of its \d+ SharePoint sites`),
			regexp.MustCompile(`checked \d+ SharePoint sites \(tenant\)\s+[1-9]\d* objects`),
			regexp.MustCompile(`\n  sites\s+[1-9]\d* live`),
			regexp.MustCompile(`\n  site_drives\s+[1-9]\d* live`),
			regexp.MustCompile(`library items \(in drive_items\)\s+[1-9]\d* live`),
			regexp.MustCompile(`library permissions \(items' own\)\s+[1-9]\d* live\s+[1-9]\d* files shared outside the tenant`),
		} {
			if !want.MatchString(out.String()) {
				t.Errorf("demo output does not match %q:\n%s", want, out.String())
			}
		}
		// Each progress block starts with its time; no block is all zeros.
		if !regexp.MustCompile(`\[4/8\] Initial sync\n      \d+\.\ds, `).MatchString(out.String()) {
			t.Errorf("the initial sync's progress does not start with the time:\n%s", out.String())
		}
		if regexp.MustCompile(`\s0 records\s+0 deleted\s+0 pages`).MatchString(out.String()) {
			t.Errorf("the progress shows a line of zeros:\n%s", out.String())
		}
	}
}
