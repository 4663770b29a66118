package main

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

func TestStatus(t *testing.T) {
	t.Parallel()
	b := setup(t)
	st := b.store()
	ctx := t.Context()

	code, out, errOut := b.run("status")
	wantCode(t, code, 0, out, errOut)
	wantContains(t, "status with no connections", out, "No connections yet")

	cn, err := st.SaveConnection(ctx, &store.Connection{
		Kind: store.KindDelegated, TenantID: "tenant-s", UserID: "user-s", UserPrincipalName: "sam@contoso.com",
		Resources: []*graphsync.Resource{graphsync.Mail, graphsync.Calendar, graphsync.Contacts, graphsync.Chats, graphsync.People},
	}, store.Tokens{RefreshToken: "rt"})
	if err != nil {
		t.Fatal(err)
	}
	for _, folder := range []struct {
		name string
		p    store.Progress
	}{{"", store.Progress{}}, {"inbox", store.Progress{Pages: 2, Upserted: 7, Deleted: 1}}, {"sent", store.Progress{Pages: 1, Upserted: 3}}} {
		s := graphsync.Stream{Connection: cn.ID, User: cn.UserID, Resource: graphsync.Mail, Container: folder.name}
		if _, err := st.StartRound(ctx, s, true); err != nil {
			t.Fatal(err)
		}
		if err := st.FinishRounds(ctx, []store.Finish{{Stream: s, DeltaLink: "delta", Progress: folder.p}}); err != nil {
			t.Fatal(err)
		}
	}
	cal := graphsync.Stream{Connection: cn.ID, User: cn.UserID, Resource: graphsync.Calendar}
	if err := st.RecordStreamError(ctx, cal, store.StreamMissingScope, "Graph answered 403 Forbidden", "Calendars.Read"); err != nil {
		t.Fatal(err)
	}
	mailbox := graphsync.Stream{Connection: cn.ID, User: cn.UserID, Resource: graphsync.Mail, Container: "inbox"}
	if err := st.InTx(ctx, func(tx store.Tx) error {
		return st.QuarantineTx(ctx, tx, mailbox, "msg-1", "receivedDateTime is not a time", []byte(`{"id":"msg-1"}`))
	}); err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	if err := st.SetThrottle(ctx, graphsync.Scope{Tenant: "tenant-s", Mailbox: "user-s"}, until, "429"); err != nil {
		t.Fatal(err)
	}
	if err := st.SetThrottle(ctx, graphsync.Scope{Tenant: "tenant-s", Mailbox: "someone-else"}, until.Add(time.Hour), "429"); err != nil {
		t.Fatal(err)
	}

	// Chats synced as a whole just now; one chat's messages were last
	// listed two days ago (nothing new in it since): the resource is not
	// behind.
	for _, chat := range []string{"", "19:old-chat@thread.v2"} {
		s := graphsync.Stream{Connection: cn.ID, User: cn.UserID, Resource: graphsync.Chats, Container: chat}
		if err := st.FinishRounds(ctx, []store.Finish{{Stream: s}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Pool().Exec(ctx, `UPDATE sync_state SET last_success_at = now() - interval '2 days'
		WHERE connection_id = $1 AND resource = 'chats' AND stream <> ''`, cn.ID); err != nil {
		t.Fatal(err)
	}
	// People synced, then disabled: its lag no longer grows.
	people := graphsync.Stream{Connection: cn.ID, User: cn.UserID, Resource: graphsync.People}
	if err := st.FinishRounds(ctx, []store.Finish{{Stream: people}}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetResources(ctx, cn.ID, []*graphsync.Resource{graphsync.Mail, graphsync.Calendar, graphsync.Contacts, graphsync.Chats}); err != nil {
		t.Fatal(err)
	}
	subExpires := time.Now().Add(7 * 24 * time.Hour).UTC()
	renew := time.Now().Add(84 * time.Hour)
	if err := st.SaveSubscription(ctx, &store.Subscription{Connection: cn.ID, User: cn.UserID, Resource: graphsync.Mail,
		GraphResource: "users/user-s/messages", GraphID: "sub-1", ExpiresAt: &subExpires, RenewAt: &renew}, "state"); err != nil {
		t.Fatal(err)
	}

	code, out, errOut = b.run("status", "--connection", fmt.Sprint(cn.ID))
	wantCode(t, code, 0, out, errOut)
	lines := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 3 {
			lines[f[3]] = f
		}
	}
	header := lines["RESOURCE"]
	if header == nil {
		t.Fatalf("no header in:\n%s", out)
	}
	col := func(resource, name string) string {
		t.Helper()
		for i, h := range header {
			if h == name && lines[resource] != nil {
				return lines[resource][i]
			}
		}
		t.Fatalf("no %s column for %s in:\n%s", name, resource, out)
		return ""
	}
	// LAST SUCCESS and THROTTLED UNTIL are two words wide ("2025-01-02 15:04:05Z"),
	// so columns after them are found from the end.
	mail := lines["mail"]
	if mail == nil {
		t.Fatalf("no mail line in:\n%s", out)
	}
	if col("mail", "STATUS") != "ok" {
		t.Errorf("mail status %q, want ok", col("mail", "STATUS"))
	}
	wantContains(t, "status output", out, "sam@contoso.com", "missing_scope (Calendars.Read)",
		"needs the Calendars.Read permission", until.Format("2006-01-02 15:04:05Z"), "not synced yet")
	wantNotContains(t, "status output", out, until.Add(time.Hour).Format("2006-01-02 15:04:05Z"))
	// The mail subscription, and none for the others.
	if got := col("mail", "SUBSCRIPTION"); got != "active" {
		t.Errorf("mail subscription %q, want active\n%s", got, out)
	}
	if got := col("mail", "EXPIRES"); got != subExpires.Format("2006-01-02T15:04Z") {
		t.Errorf("mail subscription expires %q, want %s", got, subExpires.Format("2006-01-02T15:04Z"))
	}
	// (contacts' status is three words: "not synced yet")
	if got := lines["contacts"][7]; got != "-" {
		t.Errorf("contacts subscription %q, want -\n%s", got, out)
	}
	// mail: 3 streams, 3 pages, 10 upserted, 1 deleted, 0 resyncs, then throttled until (2 fields), 1 quarantined.
	gotCounts := strings.Join(mail[10:15], " ")
	if gotCounts != "3 3 10 1 0" {
		t.Errorf("mail streams/pages/upserted/deleted/resyncs = %q, want \"3 3 10 1 0\"\n%s", gotCounts, out)
	}
	if q := mail[17]; q != "1" {
		t.Errorf("mail quarantined = %q, want 1\n%s", q, out)
	}
	if lag := mail[9]; !strings.HasSuffix(lag, "s") {
		t.Errorf("mail lag = %q, want a duration\n%s", lag, out)
	}

	// The lag is the gauge's: the time since the resource synced as a
	// whole, not since its least recently listed chat.
	health, err := st.ReadHealth(ctx, graphsync.Names(graphsync.Resources))
	if err != nil {
		t.Fatal(err)
	}
	chats := lines["chats"]
	if chats == nil {
		t.Fatalf("no chats line in:\n%s", out)
	}
	lag, err := time.ParseDuration(chats[9])
	if err != nil || lag > time.Minute || health.Lag["chats"] > time.Minute {
		t.Errorf("chats lag: status %q, gauge %s; want both under a minute\n%s", chats[9], health.Lag["chats"], out)
	}
	// A disabled resource says so, without a lag the gauge does not count.
	if p := lines["people"]; p == nil || p[4] != "disabled" || p[9] != "-" {
		t.Errorf("disabled people: %q, want status disabled and lag -\n%s", p, out)
	}
	if _, counted := health.Lag["people"]; counted {
		t.Errorf("the gauge counts the disabled people resource: %v", health.Lag)
	}

	code, out, errOut = b.run("status", "--connection", "999999")
	wantCode(t, code, 2, out, errOut)
	wantContains(t, "status of missing connection", errOut, "connection 999999 does not exist")
}

func TestStatusShowsTenantBudgets(t *testing.T) {
	t.Parallel()
	b := setup(t)
	st := b.store()
	ctx := t.Context()
	if _, err := st.SaveConnection(ctx, &store.Connection{Kind: store.KindDelegated, TenantID: "tenant-b", UserID: "user-b",
		UserPrincipalName: "bo@contoso.com", Resources: []*graphsync.Resource{graphsync.Chats}}, store.Tokens{RefreshToken: "rt"}); err != nil {
		t.Fatal(err)
	}
	teams := graphsync.Scope{Tenant: "tenant-b", Service: graphsync.Teams}
	// Two processes took 2 and 1 of a bucket of 4 refilling slowly.
	for _, take := range []struct {
		holder string
		n      float64
	}{{"worker-a", 2}, {"worker-b", 1}} {
		if got, _, err := st.TakeBudget(ctx, teams, take.holder, 0.001, 4, take.n, take.n, time.Minute); err != nil || got != take.n {
			t.Fatalf("take %g: granted %g, %v", take.n, got, err)
		}
	}
	code, out, errOut := b.run("status")
	wantCode(t, code, 0, out, errOut)
	wantContains(t, "status output", out, "Tenant budgets", "REFILL/S")
	var line []string
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) == 7 && f[0] == "tenant-b" {
			line = f
		}
	}
	if line == nil {
		t.Fatalf("no budget line of tenant-b in:\n%s", out)
	}
	if got := strings.Join([]string{line[1], line[2], line[5], line[6]}, " "); got != "teams 25% 2 3" {
		t.Errorf("budget line %q, want service teams, 25%% full, 2 processes, 3 taken\n%s", got, out)
	}
}

func TestStatusShowsGates(t *testing.T) {
	t.Parallel()
	b := setup(t)
	st := b.store()
	ctx := t.Context()
	if _, err := st.SaveConnection(ctx, &store.Connection{Kind: store.KindDelegated, TenantID: "tenant-g", UserID: "user-g",
		UserPrincipalName: "gil@contoso.com", Resources: []*graphsync.Resource{graphsync.Mail}}, store.Tokens{RefreshToken: "rt"}); err != nil {
		t.Fatal(err)
	}
	hot := graphsync.Scope{Tenant: "tenant-g", Service: graphsync.Outlook, Mailbox: "hot"}
	cool := graphsync.Scope{Tenant: "tenant-g", Service: graphsync.Outlook, Mailbox: "cool"}
	teams := graphsync.Scope{Tenant: "tenant-g", Service: graphsync.Teams}
	if err := st.PublishGates(ctx, "worker-a", []store.GateState{
		{Scope: hot, Rate: 5, ConfiguredRate: 16.67, Concurrency: 2, MaxConcurrency: 4, LearnedRate: 10, Throttles: 2,
			BlockedUntil: time.Now().Add(time.Minute)},
		{Scope: teams, Rate: 18, ConfiguredRate: 18},
	}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := st.PublishGates(ctx, "worker-b", []store.GateState{
		{Scope: cool, Rate: 9.5, ConfiguredRate: 16.67, Concurrency: 4, MaxConcurrency: 4, LearnedRate: 10, Throttles: 1},
	}, time.Minute); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := b.run("status")
	wantCode(t, code, 0, out, errOut)
	wantContains(t, "status output", out, "Gates (published by running workers")
	lines := map[string][]string{}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			lines[f[0]] = f
		}
	}
	// Per service: 2 mailbox gates, both slowed, 14.50 of 33.34 per
	// second, 6 of 8 slots, 3 throttles, 2 processes.
	if got := strings.Join(lines["outlook"], " "); got != "outlook 2 2 14.50 33.34 6/8 3 2" {
		t.Errorf("outlook line %q\n%s", got, out)
	}
	if got := strings.Join(lines["teams"], " "); got != "teams 1 0 18.00 18.00 - 0 1" {
		t.Errorf("teams line %q\n%s", got, out)
	}
	f := lines[hot.String()]
	if len(f) != 8 || f[1] != "worker-a" || f[2] != "5.00" || f[4] != "10.00" || f[5] != "2/4" || f[6] != "2" || f[7] == "-" {
		t.Errorf("hot mailbox line %q, want worker-a at 5.00/s, learnt 10.00, 2/4, 2 throttles, blocked\n%s", f, out)
	}
	// The tenant's gate is listed before the mailboxes, the slowest first.
	if i, j, k := strings.Index(out, teams.String()), strings.Index(out, hot.String()), strings.Index(out, cool.String()); i < 0 || i > j || j > k {
		t.Errorf("gates out of order (teams %d, hot %d, cool %d)\n%s", i, j, k, out)
	}
}

// An application connection's tenant-level resources (sites, groups) and
// its user discovery show their lag, from their own stream with no user,
// as the gauge counts it, and their quarantined records; `connections
// show` names a library's stream by the library's name.
func TestStatusShowsTenantResources(t *testing.T) {
	t.Parallel()
	b := setup(t)
	st := b.store()
	ctx := t.Context()
	cn, err := st.SaveConnection(ctx, &store.Connection{Kind: store.KindApplication, TenantID: "tenant-t",
		Resources: []*graphsync.Resource{graphsync.Sites, graphsync.Groups}}, store.Tokens{AccessToken: "a"})
	if err != nil {
		t.Fatal(err)
	}
	// Groups and user discovery synced just now; sites never did, but one
	// library's stream finished a round.
	library := graphsync.Stream{Connection: cn.ID, Resource: graphsync.Sites, Container: graphsync.LibraryStream("b!lib-1")}
	for _, s := range []graphsync.Stream{{Connection: cn.ID, Resource: graphsync.Groups}, {Connection: cn.ID, Resource: graphsync.Users}, library} {
		if err := st.FinishRounds(ctx, []store.Finish{{Stream: s, DeltaLink: "delta"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.InTx(ctx, func(tx store.Tx) error {
		return st.QuarantineTx(ctx, tx, library, "item-1", "createdDateTime is not a time", []byte(`{"id":"item-1"}`))
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Pool().Exec(ctx, `INSERT INTO site_drives (connection_id, id, user_id, site_id, name, raw)
		VALUES ($1, 'b!lib-1', '', 'site-1', 'Contracts', '{}')`, cn.ID); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := b.run("status", "--connection", fmt.Sprint(cn.ID))
	wantCode(t, code, 0, out, errOut)
	lines := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); len(f) > 4 {
			lines[f[4]] = f
		}
	}
	// LAST SUCCESS is two words wide, or one ("-"); LAG and QUARANTINED
	// are found from the end, past THROTTLED UNTIL ("-") and LAST ERROR.
	for resource, want := range map[string]struct{ lag, quarantined string }{
		"groups": {"s", "0"}, "users": {"s", "0"}, "sites": {"never", "1"}} {
		f := lines[resource]
		if f == nil {
			t.Fatalf("no %s line in:\n%s", resource, out)
		}
		lag := f[len(f)-9]
		if !strings.HasSuffix(lag, want.lag) || f[len(f)-2] != want.quarantined {
			t.Errorf("%s: lag %q, quarantined %q; want a lag ending %q and %s quarantined\n%s",
				resource, lag, f[len(f)-2], want.lag, want.quarantined, out)
		}
	}
	code, out, errOut = b.run("connections", "show", fmt.Sprint(cn.ID))
	wantCode(t, code, 0, out, errOut)
	if !regexp.MustCompile(`(?m)^sites\s+Contracts\s+ok\s`).MatchString(out) {
		t.Errorf("connections show does not name the library's stream by the library:\n%s", out)
	}
}
