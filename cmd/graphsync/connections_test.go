package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

func TestConnectionsImport(t *testing.T) {
	t.Parallel()
	b := setup(t)
	long := `{"tenant_id":"t1","user_id":"u9","refresh_token":"` + strings.Repeat("x", 1<<20) + `","resources":["mail"]}`
	file := writeFile(t, "connections.jsonl", "\xef\xbb\xbf"+strings.Join([]string{
		`{"tenant_id":"t1","user_id":"u1","user_principal_name":"ada@contoso.com","refresh_token":"rt-ada-0001","scopes":["Mail.Read","offline_access"],"resources":["mail","calendar"]}`,
		`{"tenant_id":"t1","user_id":"u2","user_principal_name":"bob@contoso.com","scopes":["Mail.Read"],"resources":["mail"]}`,
		``,
		`{"tenant_id":"t1","user_id":"u3","user_principal_name":"cy@contoso.com","refresh_token":"rt-cy-0003","resources":["mail","faxes"]}`,
		`{"tenant_id":"t1","user_id":"u4","refresh_token":"rt-4","resources":["mail"],"password":"x"}`,
		`not json`,
		long,
		`{"tenant_id":"t2","user_id":"u5","user_principal_name":"dee@fabrikam.com","refresh_token":"rt-dee-0005","scopes":["Chat.Read"],"resources":["chats"]}`,
		`{"tenant_id":"t2","user_id":"u6","refresh_token":"rt-6","scopes":"Mail.Read","resources":["mail"]}`,
		`["tenant_id"]`,
	}, "\r\n")+"\r\n")

	code, out, errOut := b.run("connections", "import", file)
	wantCode(t, code, 1, out, errOut)
	wantContains(t, "import stdout", out,
		"line 1: created connection", "(ada@contoso.com)",
		"line 8: created connection", "(dee@fabrikam.com)",
		"2 created, 0 updated, 0 skipped (already connected), 7 bad line(s)")
	wantContains(t, "import stderr", errOut,
		"line 1: warning: calendar needs the Calendars.Read permission",
		"line 2: bad: refresh_token is missing",
		`line 4: bad: resource "faxes" is not one of`,
		`line 5: bad: unknown field "password"; the fields are tenant_id, user_id`,
		"line 6: bad: not a JSON object",
		"line 7: bad: longer than 1048576 bytes",
		"line 9: bad: scopes is a JSON string; it must be a list of strings",
		"line 10: bad: a JSON array, not an object",
		"7 bad line(s) not imported")
	wantNotContains(t, "import stderr", errOut, "line 3:", "line 8: bad", "json:")
	wantNotContains(t, "import output", out+errOut, "rt-ada-0001", "rt-dee-0005")

	st := b.store()
	conns, err := st.Connections(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(conns) != 2 {
		t.Fatalf("%d connections stored, want 2: %v", len(conns), conns)
	}
	want := map[string]string{"ada@contoso.com": "rt-ada-0001", "dee@fabrikam.com": "rt-dee-0005"}
	for _, cn := range conns {
		rt, ok := want[cn.UserPrincipalName]
		if !ok {
			t.Errorf("unexpected connection %s", cn.UserPrincipalName)
			continue
		}
		if cn.Kind != store.KindDelegated || cn.Status != store.StatusActive {
			t.Errorf("%s: kind %s status %s, want delegated active", cn.UserPrincipalName, cn.Kind, cn.Status)
		}
		tok, err := st.Tokens(t.Context(), cn.ID)
		if err != nil {
			t.Fatal(err)
		}
		if tok.RefreshToken != rt || tok.AccessToken != "" || !tok.Expiry.IsZero() {
			t.Errorf("%s: tokens not as imported (refresh matches: %v, access empty: %v, expiry zero: %v)",
				cn.UserPrincipalName, tok.RefreshToken == rt, tok.AccessToken == "", tok.Expiry.IsZero())
		}
		var enc []byte
		if err := st.Pool().QueryRow(t.Context(), "SELECT refresh_token_enc FROM connections WHERE id = $1", cn.ID).Scan(&enc); err != nil {
			t.Fatal(err)
		}
		if len(enc) == 0 || bytes.Contains(enc, []byte(rt)) {
			t.Errorf("%s: refresh token not stored encrypted", cn.UserPrincipalName)
		}
	}
}

// Importing a line for a connection that exists changes nothing unless
// --replace is given; with it, only the refresh token and the fields the
// line gives change, and an operator's disabling stays.
func TestConnectionsImportExisting(t *testing.T) {
	t.Parallel()
	b := setup(t)
	st := b.store()
	ctx := t.Context()
	cn, err := st.SaveConnection(ctx, &store.Connection{
		Kind: store.KindDelegated, TenantID: "t1", UserID: "u1", UserPrincipalName: "ada@contoso.com", DisplayName: "Ada Lovelace",
		Scopes: []string{"Mail.Read", "Calendars.Read", "offline_access"}, Resources: []*graphsync.Resource{graphsync.Mail, graphsync.Calendar},
	}, store.Tokens{AccessToken: "at-valid-0001", RefreshToken: "rt-old-0001", Expiry: time.Now().Add(time.Hour).UTC().Truncate(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetStatus(ctx, cn.ID, store.StatusDisabled, "disabled", "disabled by an operator"); err != nil {
		t.Fatal(err)
	}
	before, err := st.Tokens(ctx, cn.ID)
	if err != nil {
		t.Fatal(err)
	}
	line := `{"tenant_id":"t1","user_id":"u1","refresh_token":"rt-new-0002","resources":["mail"]}` + "\n"
	file := writeFile(t, "again.jsonl", line)

	code, out, errOut := b.run("connections", "import", file)
	wantCode(t, code, 0, out, errOut)
	wantContains(t, "import without --replace", out,
		fmt.Sprintf("line 1: skipped: connection %d (ada@contoso.com) exists; --replace updates it", cn.ID),
		"0 created, 0 updated, 1 skipped (already connected), 0 bad line(s)")
	got, err := st.Connection(ctx, cn.ID)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := st.Tokens(ctx, cn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken != "rt-old-0001" || len(got.Resources) != 2 || got.Status != store.StatusDisabled {
		t.Fatalf("import without --replace changed the connection: resources %v status %s new refresh token %v",
			got.Resources, got.Status, tok.RefreshToken != "rt-old-0001")
	}

	code, out, errOut = b.run("connections", "import", "--replace", file)
	wantCode(t, code, 0, out, errOut)
	wantContains(t, "import --replace", out, fmt.Sprintf("line 1: updated connection %d (ada@contoso.com)", cn.ID),
		"0 created, 1 updated, 0 skipped")
	if got, err = st.Connection(ctx, cn.ID); err != nil {
		t.Fatal(err)
	}
	if tok, err = st.Tokens(ctx, cn.ID); err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken != "rt-new-0002" {
		t.Error("--replace kept the old refresh token")
	}
	if tok.AccessToken != before.AccessToken || !tok.Expiry.Equal(before.Expiry) {
		t.Error("--replace dropped the valid access token")
	}
	if got.UserPrincipalName != "ada@contoso.com" || got.DisplayName != "Ada Lovelace" || strings.Join(got.Scopes, " ") != "Mail.Read Calendars.Read offline_access" {
		t.Errorf("--replace dropped fields the line does not give: UPN %q name %q scopes %v", got.UserPrincipalName, got.DisplayName, got.Scopes)
	}
	if strings.Join(graphsync.Names(got.Resources), ",") != "mail" {
		t.Errorf("--replace: resources %v, want the line's mail", graphsync.Names(got.Resources))
	}
	if got.Status != store.StatusDisabled {
		t.Errorf("--replace re-enabled a connection an operator disabled: status %s", got.Status)
	}

	code, out, errOut = b.run("connections", "import", filepath.Join(t.TempDir(), "missing.jsonl"))
	wantCode(t, code, 2, out, errOut)
	wantContains(t, "import of a missing file", errOut, "missing.jsonl does not exist")
}

func TestConnectionsImportNeedsKey(t *testing.T) {
	t.Parallel()
	b := setup(t)
	delete(b.env, "GRAPHSYNC_ENCRYPTION_KEY")
	file := writeFile(t, "c.jsonl", `{"tenant_id":"t","user_id":"u","refresh_token":"r","resources":["mail"]}`+"\n")
	code, out, errOut := b.run("connections", "import", file)
	wantCode(t, code, 2, out, errOut)
	wantContains(t, "stderr", errOut, "GRAPHSYNC_ENCRYPTION_KEY is empty")
}

func TestConnectionsRoundTrip(t *testing.T) {
	t.Parallel()
	b := setup(t)
	st := b.store()
	ctx := t.Context()
	cn, err := st.SaveConnection(ctx, &store.Connection{
		Kind: store.KindDelegated, TenantID: "tenant-a", UserID: "user-a", UserPrincipalName: "ada@contoso.com",
		Scopes: []string{"Mail.Read"}, Resources: []*graphsync.Resource{graphsync.Mail},
	}, store.Tokens{RefreshToken: "rt-secret-a"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := st.SaveConnection(ctx, &store.Connection{
		Kind: store.KindDelegated, TenantID: "tenant-a", UserID: "user-b", UserPrincipalName: "bob@contoso.com",
		Resources: []*graphsync.Resource{graphsync.Calendar},
	}, store.Tokens{RefreshToken: "rt-secret-b"})
	if err != nil {
		t.Fatal(err)
	}
	mail := graphsync.Stream{Connection: cn.ID, User: cn.UserID, Resource: graphsync.Mail, Container: "inbox"}
	if _, err := st.StartRound(ctx, mail, true); err != nil {
		t.Fatal(err)
	}
	if err := st.FinishRounds(ctx, []store.Finish{{Stream: mail, DeltaLink: "https://graph/delta?token=1", Progress: store.Progress{Pages: 2, Upserted: 5}}}); err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprint(cn.ID)

	statusOf := func(upn string) string {
		t.Helper()
		code, out, errOut := b.run("connections", "list")
		wantCode(t, code, 0, out, errOut)
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, upn) {
				return strings.Fields(line)[4]
			}
		}
		return "(not listed)"
	}

	code, out, errOut := b.run("connections", "list")
	wantCode(t, code, 0, out, errOut)
	wantContains(t, "list", out, "ID", "UPN", "TOKEN EXPIRES", "ada@contoso.com", "bob@contoso.com", "tenant-a", "mail")
	wantNotContains(t, "list", out, "rt-secret-a")
	if got := statusOf("ada@contoso.com"); got != "active" {
		t.Errorf("status %q, want active", got)
	}

	code, out, errOut = b.run("connections", "show", id)
	wantCode(t, code, 0, out, errOut)
	wantContains(t, "show", out, "ada@contoso.com", "Status:", "active", "RESOURCE", "inbox", "ok")
	wantNotContains(t, "show", out, "rt-secret-a", "token=1")

	code, out, errOut = b.run("connections", "disable", id)
	wantCode(t, code, 0, out, errOut)
	if got := statusOf("ada@contoso.com"); got != "disabled" {
		t.Errorf("after disable: status %q, want disabled", got)
	}
	if got := statusOf("bob@contoso.com"); got != "active" {
		t.Errorf("disable touched another connection: status %q", got)
	}

	code, out, errOut = b.run("connections", "enable", id)
	wantCode(t, code, 0, out, errOut)
	if got := statusOf("ada@contoso.com"); got != "active" {
		t.Errorf("after enable: status %q, want active", got)
	}

	resourcesOf := func(id int64) []string {
		t.Helper()
		c, err := st.Connection(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return graphsync.Names(c.Resources)
	}
	code, out, errOut = b.run("connections", "resources", id, "--disable", "mail")
	wantCode(t, code, 0, out, errOut)
	if got := resourcesOf(cn.ID); len(got) != 0 {
		t.Errorf("after --disable mail: resources %v", got)
	}
	if got := resourcesOf(other.ID); len(got) != 1 || got[0] != "calendar" {
		t.Errorf("--disable touched another connection: %v", got)
	}
	code, out, errOut = b.run("connections", "resources", id, "--enable", "mail")
	wantCode(t, code, 0, out, errOut)
	wantContains(t, "resources --enable", out, "syncs: mail")
	wantNotContains(t, "resources --enable (scope granted)", errOut, "warning")
	if got := resourcesOf(cn.ID); len(got) != 1 || got[0] != "mail" {
		t.Errorf("after --enable mail: resources %v", got)
	}
	code, out, errOut = b.run("connections", "resources", id, "--enable", "faxes")
	wantCode(t, code, 2, out, errOut)
	wantContains(t, "resources --enable faxes", errOut, `unknown resource "faxes"`)
	code, out, errOut = b.run("connections", "resources", id, "--enable", "mail", "--disable", "mail")
	wantCode(t, code, 2, out, errOut)
	wantContains(t, "resources both", errOut, "both enabled and disabled")

	code, out, errOut = b.run("connections", "delete", id)
	wantCode(t, code, 2, out, errOut)
	wantContains(t, "delete without --yes", errOut, "--yes")
	if _, err := st.Connection(ctx, cn.ID); err != nil {
		t.Fatalf("connection gone after delete without --yes: %v", err)
	}

	code, out, errOut = b.run("connections", "delete", id, "--yes")
	wantCode(t, code, 0, out, errOut)
	wantContains(t, "delete", out, "deleted connection "+id)
	if got := statusOf("ada@contoso.com"); got != "(not listed)" {
		t.Errorf("deleted connection still listed with status %q", got)
	}
	var states int
	if err := st.Pool().QueryRow(ctx, "SELECT count(*) FROM sync_state WHERE connection_id = $1", cn.ID).Scan(&states); err != nil {
		t.Fatal(err)
	}
	if states != 0 {
		t.Errorf("%d sync_state rows left after delete", states)
	}
	if _, err := st.Connection(context.WithoutCancel(ctx), other.ID); err != nil {
		t.Errorf("delete removed another connection: %v", err)
	}

	code, out, errOut = b.run("connections", "show", id)
	wantCode(t, code, 2, out, errOut)
	wantContains(t, "show deleted", errOut, "connection "+id+" does not exist")

	code, out, errOut = b.run("connections", "show", "abc")
	wantCode(t, code, 2, out, errOut)
	wantContains(t, "show abc", errOut, `connection ID "abc" is not a positive number`)
}

// `connections attachments` sets a connection's own attachment-content
// setting, shows where the answer comes from, and refuses a bad value.
func TestConnectionsAttachments(t *testing.T) {
	t.Parallel()
	b := setup(t)
	st := b.store()
	ctx := t.Context()
	cn, err := st.SaveConnection(ctx, &store.Connection{
		Kind: store.KindDelegated, TenantID: "tenant-a", UserID: "user-a", UserPrincipalName: "ada@contoso.com",
		Scopes: []string{"Mail.Read"}, Resources: []*graphsync.Resource{graphsync.Mail},
	}, store.Tokens{RefreshToken: "rt-secret-a"})
	if err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprint(cn.ID)
	code, out, errOut := b.run("connections", "attachments", id)
	wantCode(t, code, 0, out, errOut)
	wantContains(t, "attachments", out, "attachment content: off (the worker's default")

	code, out, errOut = b.run("connections", "attachments", id, "--content", "on")
	wantCode(t, code, 0, out, errOut)
	wantContains(t, "attachments --content on", out, "attachment content: on (its own setting)")
	if on, err := st.AttachmentContentOn(ctx, cn.ID, false); err != nil || !on {
		t.Fatalf("stored setting after --content on: %v, %v; want on", on, err)
	}

	code, out, errOut = b.run("connections", "attachments", id, "--content", "maybe")
	wantCode(t, code, 2, out, errOut)
	wantContains(t, "attachments --content maybe", errOut, `--content "maybe"`)
	if on, err := st.AttachmentContentOn(ctx, cn.ID, false); err != nil || !on {
		t.Fatalf("a refused value changed the setting: %v, %v", on, err)
	}

	code, out, errOut = b.run("connections", "attachments", id, "--content", "default")
	wantCode(t, code, 0, out, errOut)
	wantContains(t, "attachments --content default", out, "attachment content: off (the worker's default")
}
