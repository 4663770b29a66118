package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/logtest"
	"github.com/graphsync/graphsync/store"
)

// writeMessages stores messages of a connection's user as a sync would.
func writeMessages(t *testing.T, st *store.Store, cn *store.Connection, ids ...string) {
	t.Helper()
	var rows []graphsync.Row
	for _, id := range ids {
		raw := fmt.Sprintf(`{"id":%q,"subject":"about %s","parentFolderId":"inbox","receivedDateTime":"2025-03-01T10:00:00Z"}`, id, id)
		row, err := graphsync.Mail.Items().Map([]byte(raw), graphsync.MapContext{User: cn.UserID, Container: "inbox"})
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, row)
	}
	if err := st.InTx(t.Context(), func(tx store.Tx) error {
		_, err := st.UpsertTx(t.Context(), tx, graphsync.Mail.Items(), cn.ID, rows, nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// lines decodes the JSON lines graphsync changes printed.
func lines(t *testing.T, out string) []changeLine {
	t.Helper()
	var cs []changeLine
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var c changeLine
		if err := json.Unmarshal([]byte(l), &c); err != nil {
			t.Fatalf("line %q is not a change: %v", l, err)
		}
		cs = append(cs, c)
	}
	return cs
}

func items(cs []changeLine) string {
	var s []string
	for _, c := range cs {
		s = append(s, string(c.Op)+" "+c.Item)
	}
	return strings.Join(s, ", ")
}

func TestChangesCommand(t *testing.T) {
	t.Parallel()
	b := setup(t)
	st := b.store()
	cn := saveTestConnection(t, st, "user-c")
	writeMessages(t, st, cn, "m1", "m2")

	code, out, errOut := b.run("changes")
	wantCode(t, code, 0, out, errOut)
	all := lines(t, out)
	if got, want := items(all), fmt.Sprintf("created %d, created m1, created m2", cn.ID); got != want {
		t.Fatalf("changes: %s, want %s", got, want)
	}
	if all[1].Table != "mail_messages" || all[1].Resource != "mail" || all[1].Connection != cn.ID || all[1].Cursor.IsZero() {
		t.Fatalf("line %+v", all[1])
	}
	wantContains(t, "stderr", errOut, "cursor: ")

	// Resuming after a line prints what follows it.
	code, out, errOut = b.run("changes", "--after", all[1].Cursor.String())
	wantCode(t, code, 0, out, errOut)
	if got := items(lines(t, out)); got != "created m2" {
		t.Fatalf("after the second line: %s", got)
	}
	// Filters.
	code, out, errOut = b.run("changes", "--connection", "999")
	wantCode(t, code, 0, out, errOut)
	if strings.TrimSpace(out) != "" {
		t.Fatalf("another connection's changes: %s", out)
	}
	code, out, errOut = b.run("changes", "--resource", "calendar", "--limit", "1")
	wantCode(t, code, 0, out, errOut)
	if got, want := items(lines(t, out)), fmt.Sprintf("created %d", cn.ID); got != want {
		t.Fatalf("calendar only: %s, want the connection's event", got)
	}

	// A cursor file resumes where the last run stopped.
	file := filepath.Join(t.TempDir(), "cursor")
	code, out, errOut = b.run("changes", "--cursor-file", file)
	wantCode(t, code, 0, out, errOut)
	writeMessages(t, st, cn, "m3")
	code, out, errOut = b.run("changes", "--cursor-file", file)
	wantCode(t, code, 0, out, errOut)
	if got := items(lines(t, out)); got != "created m3" {
		t.Fatalf("second run with a cursor file: %s", got)
	}

	for _, bad := range [][]string{{"--after", "nonsense"}, {"--resource", "faxes"}, {"--connection", "x"}, {"--limit", "0"}} {
		code, out, errOut = b.run(append([]string{"changes"}, bad...)...)
		wantCode(t, code, 2, out, errOut)
		wantContains(t, strings.Join(bad, " "), errOut, strings.TrimPrefix(bad[0], "--"))
	}

	// Behind retention: refused, naming the oldest cursor. Pruning stops at
	// transactions still in progress on the server (other tests'), so it
	// may take a few rounds.
	var oldest graphsync.Cursor
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := st.PruneChanges(t.Context(), time.Now().Add(time.Minute), nil); err != nil {
			t.Fatal(err)
		}
		var err error
		if oldest, err = st.OldestChanges(t.Context()); err != nil {
			t.Fatal(err)
		}
		if oldest.Seen.Xmin > all[0].Cursor.Seen.FirstInvisible() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pruning everything left the horizon at %s", oldest)
		}
	}
	code, out, errOut = b.run("changes", "--after", all[0].Cursor.String())
	wantCode(t, code, 1, out, errOut)
	wantContains(t, "behind retention", errOut, fmt.Sprintf("the oldest cursor available is %q", oldest.String()))
}

// graphsync changes --follow prints changes as they commit.
func TestChangesFollow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	st := b.store()
	cn := saveTestConnection(t, st, "user-f")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	out := &logtest.Buffer{}
	m := &Main{Getenv: func(k string) string { return b.env[k] }, Stdin: strings.NewReader(""), Stdout: out, Stderr: io.Discard}
	from, err := st.ChangesNow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan int, 1)
	go func() {
		done <- m.Exit(m.Run(ctx, []string{"changes", "--follow", "--after", from.String(), "--resource", "mail"}))
	}()
	for i := 1; ; i++ {
		writeMessages(t, st, cn, fmt.Sprintf("f%d", i))
		time.Sleep(100 * time.Millisecond)
		if strings.Count(out.String(), "\n") >= 2 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("followed: %q", out.String())
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d", code)
	}
	if got := items(lines(t, out.String())); !strings.HasPrefix(got, "created f1, created f2") {
		t.Fatalf("followed %s", got)
	}
}

func saveTestConnection(t *testing.T, st *store.Store, user string) *store.Connection {
	t.Helper()
	cn, err := st.SaveConnection(t.Context(), &store.Connection{Kind: store.KindDelegated, TenantID: "tenant-c", UserID: user,
		UserPrincipalName: user + "@contoso.com", Resources: []*graphsync.Resource{graphsync.Mail}}, store.Tokens{RefreshToken: "rt"})
	if err != nil {
		t.Fatal(err)
	}
	return cn
}

func TestWebhooksCommand(t *testing.T) {
	t.Parallel()
	b := setup(t)
	st := b.store()
	code, out, errOut := b.run("webhooks", "list")
	wantCode(t, code, 0, out, errOut)
	wantContains(t, "no endpoints", out, "No webhook endpoints")

	code, out, errOut = b.run("webhooks", "add", "http://127.0.0.1:9/hook", "--resource", "mail,calendar", "--connection", "4")
	wantCode(t, code, 0, out, errOut)
	wantContains(t, "add", out, "webhook endpoint 1 added: http://127.0.0.1:9/hook")
	_, secret, ok := strings.Cut(strings.TrimSpace(out), "Graphsync-Signature with it): ")
	if !ok || !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("no secret printed: %s", out)
	}
	if got, err := st.WebhookSecret(t.Context(), 1); err != nil || got != secret {
		t.Fatalf("stored secret differs from the printed one (%v)", err)
	}
	if n := queryInt(t, st, "SELECT count(*) FROM webhook_endpoints WHERE position($1 in encode(secret_enc, 'escape')) > 0", secret); n != 0 {
		t.Fatal("the secret is stored in plaintext")
	}
	file := writeFile(t, "secret", "a-secret-the-receiver-chose\n")
	code, out, errOut = b.run("webhooks", "add", "https://hooks.example.com/in", "--secret-file", file, "--from", "start")
	wantCode(t, code, 0, out, errOut)
	if strings.Contains(out, "a-secret") {
		t.Fatalf("a given secret was printed: %s", out)
	}

	for _, bad := range [][]string{{"http://hooks.example.com/in"}, {"https://u:p@hooks.example.com/"}, {"ftp://x"}, {"https://x", "--from", "yesterday"}} {
		code, out, errOut = b.run(append([]string{"webhooks", "add"}, bad...)...)
		wantCode(t, code, 2, out, errOut)
		if strings.Contains(errOut, "u:p") {
			t.Fatalf("error shows the URL's credentials: %s", errOut)
		}
	}

	cn := saveTestConnection(t, st, "user-w")
	writeMessages(t, st, cn, "w1")
	code, out, errOut = b.run("webhooks", "list")
	wantCode(t, code, 0, out, errOut)
	wantContains(t, "list", out, "mail,calendar")
	wantContains(t, "list", out, "https://hooks.example.com/in")
	code, out, errOut = b.run("status")
	wantCode(t, code, 0, out, errOut)
	wantContains(t, "status", out, "Webhook endpoints")

	code, out, errOut = b.run("webhooks", "reset", "2", "--to", "now")
	wantCode(t, code, 0, out, errOut)
	ep, err := st.Webhook(t.Context(), 2)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := st.PendingChanges(t.Context(), ep.Cursor, ep.Filter); err != nil || p.Changes != 0 {
		t.Fatalf("pending after a reset to now: %+v %v", p, err)
	}
	code, out, errOut = b.run("webhooks", "remove", "1")
	wantCode(t, code, 0, out, errOut)
	code, out, errOut = b.run("webhooks", "remove", "1")
	wantCode(t, code, 1, out, errOut)
	wantContains(t, "remove twice", errOut, "webhook endpoint 1 does not exist")
}

func queryInt(t *testing.T, st *store.Store, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := st.Pool().QueryRow(t.Context(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
