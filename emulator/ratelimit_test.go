package emulator

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rateHeaders are every rate-limit header the services send.
var rateHeaders = []string{"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "x-ms-resource-unit",
	"x-ms-throttle-limit-percentage", "x-ms-throttle-scope", "x-ms-throttle-information"}

func noRateHeaders(t *testing.T, what string, h http.Header, except ...string) {
	t.Helper()
	for _, k := range rateHeaders {
		if v := h.Get(k); v != "" && !strings.Contains(strings.Join(except, ","), k) {
			t.Errorf("%s carries %s: %s", what, k, v)
		}
	}
}

// OneDrive sends RateLimit-Limit, -Remaining and -Reset once an app has used
// 80% of its window's resource units, to app-only tokens only, and on the
// 429 with Retry-After; Outlook and Teams send none of these headers.
// https://learn.microsoft.com/sharepoint/dev/general-development/how-to-avoid-getting-throttled-or-blocked-in-sharepoint-online
// https://devblogs.microsoft.com/microsoft365dev/prevent-throttling-in-your-application-by-using-ratelimit-headers-in-sharepoint-online/
func TestDriveRateLimitHeaders(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 51, Users: 1, MessagesPerUser: 3, DriveItemsPerUser: 40,
		Throttle: Throttle{Drive: DriveLimits{ResourceUnits: 10, Window: time.Minute}, Teams: TeamsLimits{RequestsPerSecond: 1}}})
	app := b.appToken(t)
	user := b.srv.Users()[0]
	delegated := b.userTokens(t, "Files.Read.All Chat.Read Mail.Read User.Read", user.UserPrincipalName)["access_token"].(string)
	link := "/v1.0/users/" + user.ID + "/drive/root/delta?$top=1"
	next := func(tok string, wantStatus int) http.Header {
		t.Helper()
		resp, body := b.get(t, tok, link)
		if resp.StatusCode != wantStatus {
			t.Fatalf("GET %s: %d, want %d: %s", link, resp.StatusCode, wantStatus, body)
		}
		if wantStatus == 200 {
			var p page
			_ = json.Unmarshal(body, &p)
			link = p.NextLink
		}
		return resp.Header
	}
	// 2 RU without a token, then 1 RU a page: 7 RU used, under 80%.
	for used := 2; used <= 7; used++ {
		noRateHeaders(t, "drive page at "+strconv.Itoa(used)+" RU", next(app, 200))
	}
	check := func(h http.Header, remaining string) {
		t.Helper()
		reset, err := strconv.Atoi(h.Get("RateLimit-Reset"))
		if h.Get("RateLimit-Limit") != "10" || h.Get("RateLimit-Remaining") != remaining || err != nil || reset < 1 || reset > 60 {
			t.Errorf("RateLimit headers %q/%q/%q, want 10/%s/1..60", h.Get("RateLimit-Limit"), h.Get("RateLimit-Remaining"), h.Get("RateLimit-Reset"), remaining)
		}
	}
	check(next(app, 200), "2") // 8 RU: 80%
	// A delegated token shares the app's budget but gets no RateLimit headers.
	noRateHeaders(t, "delegated drive page", next(delegated, 200))
	check(next(app, 200), "0") // 10 RU
	h := next(app, 429)
	check(h, "0")
	if h.Get("Retry-After") == "" || h.Get("Retry-After") != h.Get("RateLimit-Reset") {
		t.Errorf("429: Retry-After %q, RateLimit-Reset %q", h.Get("Retry-After"), h.Get("RateLimit-Reset"))
	}
	// Outlook and Teams document no such headers, throttled or not.
	resp, _ := b.get(t, app, "/v1.0/users/"+user.ID+"/mailFolders/delta")
	noRateHeaders(t, "Outlook", resp.Header)
	resp, _ = b.get(t, app, "/v1.0/users/"+user.ID+"/chats")
	noRateHeaders(t, "Teams 200", resp.Header)
	resp, _ = b.get(t, app, "/v1.0/users/"+user.ID+"/chats")
	if resp.StatusCode != 429 {
		t.Errorf("second Teams request in a second: %d", resp.StatusCode)
	}
	noRateHeaders(t, "Teams 429", resp.Header)
}

// The directory sends x-ms-resource-unit with each request's cost,
// x-ms-throttle-limit-percentage above 0.8 of the budget, and
// x-ms-throttle-scope and x-ms-throttle-information on a 429.
// https://learn.microsoft.com/graph/throttling-limits#identity-and-access-service-limits
func TestDirectoryThrottleHeaders(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 52, Users: 3, MessagesPerUser: 1,
		Throttle: Throttle{Directory: DirectoryLimits{ResourceUnits: 10}}})
	tok := b.appToken(t)
	u := b.srv.Users()[0].ID
	used := 0
	for _, tc := range []struct {
		path string
		cost int
		pct  string
	}{
		{"/v1.0/users", 2, ""},                      // GET users: 2
		{"/v1.0/users?$select=id", 1, ""},           // $select -1
		{"/v1.0/users/" + u, 1, ""},                 // any other path: 1
		{"/v1.0/users?$top=5", 1, ""},               // $top under 20 -1
		{"/v1.0/users?$expand=manager", 3, ""},      // $expand +1: 8 RU, not above 0.8
		{"/v1.0/users/delta?$select=id", 1, "0.90"}, // 9 RU
		{"/v1.0/users/" + u, 1, "1.00"},             // 10 RU
	} {
		resp, body := b.get(t, tok, tc.path)
		used += tc.cost
		if resp.StatusCode != 200 || resp.Header.Get("x-ms-resource-unit") != strconv.Itoa(tc.cost) ||
			resp.Header.Get("x-ms-throttle-limit-percentage") != tc.pct {
			t.Errorf("%s at %d RU: %d, x-ms-resource-unit %q (want %d), x-ms-throttle-limit-percentage %q (want %q) %s", tc.path, used,
				resp.StatusCode, resp.Header.Get("x-ms-resource-unit"), tc.cost, resp.Header.Get("x-ms-throttle-limit-percentage"), tc.pct, body)
		}
		noRateHeaders(t, tc.path, resp.Header, "x-ms-resource-unit", "x-ms-throttle-limit-percentage")
	}
	resp, body := b.get(t, tok, "/v1.0/users/"+u)
	if code, _ := graphErr(t, body); resp.StatusCode != 429 || code != "TooManyRequests" || resp.Header.Get("Retry-After") == "" ||
		resp.Header.Get("x-ms-throttle-scope") != "Tenant_Application/ReadWrite/"+defaultClientID+"/"+b.srv.TenantID() ||
		resp.Header.Get("x-ms-throttle-information") != "ResourceUnitLimitExceeded" {
		t.Errorf("over the budget: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	noRateHeaders(t, "directory 429", resp.Header, "x-ms-throttle-scope", "x-ms-throttle-information")
}

// Teams and OneDrive limits are per app per tenant: a tenant over its limit
// does not throttle another.
// https://learn.microsoft.com/graph/throttling-limits#microsoft-teams-service-limits
func TestTeamsLimitPerTenant(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 53, Users: 2, Tenants: 2, MessagesPerUser: 1,
		Throttle: Throttle{Teams: TeamsLimits{RequestsPerSecond: 2}}})
	users := b.srv.Users()
	if users[0].TenantID == users[1].TenantID {
		t.Fatal("users share a tenant")
	}
	toks := []string{
		b.userTokens(t, "Chat.Read User.Read", users[0].UserPrincipalName)["access_token"].(string),
		b.userTokens(t, "Chat.Read User.Read", users[1].UserPrincipalName)["access_token"].(string),
	}
	var got []int
	for _, i := range []int{0, 0, 0, 1, 1} {
		resp, _ := b.get(t, toks[i], "/v1.0/me/chats")
		got = append(got, resp.StatusCode)
	}
	if want := []int{200, 200, 429, 200, 200}; !equalInts(got, want) {
		t.Errorf("statuses %v, want %v (the second tenant has its own limit)", got, want)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (b *bundle) batch(t *testing.T, tok string, reqs []map[string]any) (int, map[string]batchResponse) {
	t.Helper()
	raw, _ := json.Marshal(map[string]any{"requests": reqs})
	req, _ := http.NewRequestWithContext(ctxT(t), http.MethodPost, b.srv.URL()+"/v1.0/$batch", bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out struct {
		Responses []batchResponse `json:"responses"`
	}
	_ = json.Unmarshal(body, &out)
	byID := map[string]batchResponse{}
	for _, r := range out.Responses {
		byID[r.ID] = r
	}
	return resp.StatusCode, byID
}

// In $batch every sub-request counts against its own service's limits:
// one answer carries 200s and 429s (each 429 with its own Retry-After in
// its headers); relative delta and OneDrive links work inside a batch; and
// the sub-requests show in the measured request rates one by one.
// https://learn.microsoft.com/graph/json-batching
func TestBatchThrottlingAndRelativeLinks(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 54, Users: 1, MessagesPerUser: 30, DriveItemsPerUser: 10,
		Throttle: Throttle{Teams: TeamsLimits{RequestsPerSecond: 2}}})
	tok := b.appToken(t)
	u := b.srv.Users()[0].ID
	inbox := folderIDs(t, b, tok, u)["Inbox"]
	mailDelta := b.syncRound(t, tok, "/v1.0/users/"+u+"/mailFolders/"+inbox+"/messages/delta", func(map[string]json.RawMessage) {})
	driveDelta := b.syncRound(t, tok, "/v1.0/users/"+u+"/drive/root/delta", func(map[string]json.RawMessage) {})
	rel := func(link string) string { return strings.TrimPrefix(link, b.srv.URL()+"/v1.0") }
	if !strings.Contains(rel(mailDelta), "$deltatoken=") || !strings.Contains(rel(driveDelta), "(token='") {
		t.Fatalf("links %q %q", mailDelta, driveDelta)
	}
	var reqs []map[string]any
	for i := 1; i <= 5; i++ {
		reqs = append(reqs, map[string]any{"id": "t" + strconv.Itoa(i), "method": "GET", "url": "/users/" + u + "/chats"})
	}
	reqs = append(reqs, map[string]any{"id": "mail", "method": "GET", "url": rel(mailDelta)},
		map[string]any{"id": "drive", "method": "GET", "url": rel(driveDelta)})
	st, byID := b.batch(t, tok, reqs)
	if st != 200 || len(byID) != 7 {
		t.Fatalf("batch: %d, %d responses", st, len(byID))
	}
	ok, throttled := 0, 0
	for i := 1; i <= 5; i++ {
		switch r := byID["t"+strconv.Itoa(i)]; r.Status {
		case 200:
			ok++
		case 429:
			throttled++
			if n, err := strconv.Atoi(r.Headers["Retry-After"]); err != nil || n < 1 {
				t.Errorf("throttled sub-response's Retry-After %q", r.Headers["Retry-After"])
			}
		default:
			t.Errorf("Teams sub-response %d", r.Status)
		}
	}
	if ok != 2 || throttled != 3 {
		t.Errorf("Teams sub-requests: %d ok, %d throttled; want 2 and 3", ok, throttled)
	}
	for _, id := range []string{"mail", "drive"} {
		var p page
		if r := byID[id]; r.Status != 200 || json.Unmarshal(r.Body, &p) != nil || p.DeltaLink == "" {
			t.Errorf("%s delta link in a batch: %d %s", id, r.Status, r.Body)
		}
	}
	if n, err := b.srv.MaxRequestsInWindow("teams", b.srv.TenantID(), time.Second); err != nil || n != 5 {
		t.Errorf("measured %d Teams requests in a second (%v), want the batch's 5", n, err)
	}
	// 21 requests are refused whole.
	var many []map[string]any
	for i := 0; i < 21; i++ {
		many = append(many, map[string]any{"id": strconv.Itoa(i), "method": "GET", "url": "/users/" + u})
	}
	if st, _ := b.batch(t, tok, many); st != 400 {
		t.Errorf("21 requests: %d", st)
	}
}

// Request rates per service and tenant over sliding windows, as tests of
// a client's pacing need them.
func TestMaxRequestsInWindow(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 55, Users: 2, Tenants: 2, MessagesPerUser: 1, DriveItemsPerUser: 10})
	tok := b.appToken(t)
	tenant := b.srv.TenantID()
	u := b.srv.Users()[0].ID
	for round := 0; round < 2; round++ {
		for i := 0; i < 3; i++ {
			if resp, _ := b.get(t, tok, "/v1.0/users/"+u+"/chats"); resp.StatusCode != 200 {
				t.Fatalf("chats: %d", resp.StatusCode)
			}
		}
		if round == 0 {
			time.Sleep(1100 * time.Millisecond)
		}
	}
	for _, tc := range []struct {
		service, tenant string
		window          time.Duration
		want            int
	}{
		{"teams", tenant, time.Second, 3},
		{"teams", tenant, 3 * time.Second, 6},
		{"teams", "", time.Second, 3},
		{"teams", b.srv.Users()[1].TenantID, time.Minute, 0},
		{"outlook", tenant, time.Minute, 0},
	} {
		if n, err := b.srv.MaxRequestsInWindow(tc.service, tc.tenant, tc.window); err != nil || n != tc.want {
			t.Errorf("MaxRequestsInWindow(%s, %q, %s) = %d, %v; want %d", tc.service, tc.tenant, tc.window, n, err, tc.want)
		}
	}
	// Resource units: a delta without a token is 2, a page with one is 1.
	p := b.getPage(t, tok, "/v1.0/users/"+u+"/drive/root/delta?$top=2")
	b.getPage(t, tok, p.NextLink)
	if n, err := b.srv.MaxResourceUnitsInWindow("drive", tenant, time.Minute); err != nil || n != 3 {
		t.Errorf("drive resource units %d (%v), want 3", n, err)
	}
	if n, _ := b.srv.MaxRequestsInWindow("drive", tenant, time.Minute); n != 2 {
		t.Errorf("drive requests %d, want 2", n)
	}
	for _, bad := range []struct {
		service string
		window  time.Duration
	}{{"sharepoint", time.Second}, {"teams", 0}} {
		if _, err := b.srv.MaxRequestsInWindow(bad.service, tenant, bad.window); err == nil {
			t.Errorf("MaxRequestsInWindow(%q, %s) accepted", bad.service, bad.window)
		}
	}
	// The control plane answers the same.
	resp, body := b.get(t, "", "/_emulator/rates?service=teams&tenant="+tenant+"&window=1s")
	var r struct{ MaxRequests, MaxResourceUnits int }
	if err := json.Unmarshal(body, &r); resp.StatusCode != 200 || err != nil || r.MaxRequests != 3 || r.MaxResourceUnits != 3 {
		t.Errorf("control plane rates: %d %s", resp.StatusCode, body)
	}
	if resp, _ := b.get(t, "", "/_emulator/rates?service=teams&window=soon"); resp.StatusCode != 400 {
		t.Errorf("bad window: %d", resp.StatusCode)
	}
	b.srv.ResetCounters()
	if n, _ := b.srv.MaxRequestsInWindow("teams", "", time.Hour); n != 0 {
		t.Errorf("after ResetCounters: %d", n)
	}
}
