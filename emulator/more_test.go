package emulator

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// users/delta: $deltaToken=latest returns no items and a deltaLink; $top is
// refused; expiry is 400 syncStateNotFound.
// https://learn.microsoft.com/en-us/graph/api/user-delta
// https://devblogs.microsoft.com/microsoft365dev/duration-of-change-tracking-tokens-for-identity-and-education-resources/
func TestUsersDelta(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 17, Users: 7, MessagesPerUser: 1})
	tok := b.appToken(t)
	n := 0
	link := b.syncRound(t, tok, "/v1.0/users/delta?$select=displayName", func(it map[string]json.RawMessage) {
		n++
		if it["userPrincipalName"] != nil {
			t.Errorf("$select not applied")
		}
	}, "Prefer", "odata.maxpagesize=3")
	if n != 7 {
		t.Errorf("users delta returned %d users", n)
	}
	resp, body := b.get(t, tok, "/v1.0/users/delta?$deltaToken=latest")
	var p page
	_ = json.Unmarshal(body, &p)
	if resp.StatusCode != 200 || len(p.Value) != 0 || p.DeltaLink == "" {
		t.Errorf("latest: %d %s", resp.StatusCode, body)
	}
	if resp, _ := b.get(t, tok, "/v1.0/users/delta?$top=2"); resp.StatusCode != 400 {
		t.Errorf("$top accepted: %d", resp.StatusCode)
	}
	b.srv.ExpireDeltaTokens()
	resp, body = b.get(t, tok, link)
	if code, _ := graphErr(t, body); resp.StatusCode != 400 || code != "syncStateNotFound" {
		t.Errorf("expired: %d %s", resp.StatusCode, body)
	}
}

// Delta tokens expire by age when DeltaTokenLifetime is set.
// https://learn.microsoft.com/en-us/graph/delta-query-overview#token-duration
func TestDeltaTokenLifetime(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 18, Users: 1, MessagesPerUser: 5, DeltaTokenLifetime: time.Hour})
	tok := b.appToken(t)
	u := b.srv.Users()[0].ID
	link := b.syncRound(t, tok, "/v1.0/users/"+u+"/mailFolders/delta", func(map[string]json.RawMessage) {})
	if resp, _ := b.get(t, tok, link); resp.StatusCode != 200 {
		t.Fatalf("fresh token refused: %d", resp.StatusCode)
	}
	b.srv.setClock(func() time.Time { return time.Now().Add(61 * time.Minute) })
	tok = b.appToken(t)
	resp, body := b.get(t, tok, link)
	if code, _ := graphErr(t, body); resp.StatusCode != 410 || code != "SyncStateNotFound" {
		t.Errorf("old token: %d %s", resp.StatusCode, body)
	}
}

// The control plane mirrors the Go methods over HTTP.
func TestControlPlane(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 19, Users: 2, MessagesPerUser: 20})
	do := func(method, path, body string) (int, string) {
		req, _ := http.NewRequestWithContext(ctxT(t), method, b.srv.URL()+path, strings.NewReader(body))
		resp, err := b.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(out)
	}
	st, body := do("GET", "/_emulator/users", "")
	var users []User
	_ = json.Unmarshal([]byte(body), &users)
	if st != 200 || len(users) != 2 || users[0].UserPrincipalName == "" {
		t.Fatalf("users: %d %s", st, body)
	}
	st, body = do("GET", "/_emulator/truth/"+users[0].ID+"/messages", "")
	var msgs []json.RawMessage
	_ = json.Unmarshal([]byte(body), &msgs)
	if st != 200 || len(msgs) != 20 {
		t.Errorf("truth: %d, %d messages", st, len(msgs))
	}
	if st, _ := do("GET", "/_emulator/truth/"+users[0].ID+"/nonsense", ""); st != 404 {
		t.Errorf("unknown resource: %d", st)
	}
	if st, body := do("POST", "/_emulator/mutate?n=5", ""); st != 200 || !strings.Contains(body, "applied") {
		t.Errorf("mutate: %d %s", st, body)
	}
	if st, _ := do("POST", "/_emulator/faults", `{"Status500":1}`); st != 204 {
		t.Errorf("faults: %d", st)
	}
	tok := b.appToken(t)
	if resp, _ := b.get(t, tok, "/v1.0/users"); resp.StatusCode != 500 {
		t.Errorf("fault not applied: %d", resp.StatusCode)
	}
	do("POST", "/_emulator/faults", `{}`)
	if st, _ := do("POST", "/_emulator/throttle", `{"Teams":{"RequestsPerSecond":1}}`); st != 204 {
		t.Errorf("throttle: %d", st)
	}
	for _, p := range []string{"/_emulator/expire-delta-tokens", "/_emulator/revoke-grant/" + users[0].ID,
		"/_emulator/remove-consent/" + users[0].ID, "/_emulator/expire-client-secret/" + defaultClientID} {
		if st, body := do("POST", p, ""); st != 204 {
			t.Errorf("%s: %d %s", p, st, body)
		}
	}
	if st, _ := do("POST", "/_emulator/expire-client-secret/nobody", ""); st != 404 {
		t.Errorf("unknown client: %d", st)
	}
	st, body = do("GET", "/_emulator/counters", "")
	var c Counters
	_ = json.Unmarshal([]byte(body), &c)
	if st != 200 || c.Requests["users"][500] != 1 {
		t.Errorf("counters: %d %s", st, body)
	}
	st, body = do("GET", "/_emulator/secrets", "")
	if st != 200 || !strings.Contains(body, tok) || !strings.Contains(body, defaultSecret) {
		t.Errorf("secrets lack issued values")
	}
	st, body = do("POST", "/_emulator/inject-control-char/"+users[0].ID+"/inbox", "")
	var one struct{ ID string }
	_ = json.Unmarshal([]byte(body), &one)
	if st != 200 || one.ID == "" {
		t.Errorf("inject-control-char: %d %s", st, body)
	}
	st, body = do("POST", "/_emulator/inject-large/"+users[0].ID+"/outbox?n=2&bytes=1000", "")
	var many struct{ IDs []string }
	_ = json.Unmarshal([]byte(body), &many)
	if st != 200 || len(many.IDs) != 2 {
		t.Errorf("inject-large: %d %s", st, body)
	}
	for _, p := range []string{"/_emulator/inject-large/" + users[0].ID + "/outbox?n=2", "/_emulator/inject-large/" + users[0].ID + "/nowhere?n=1&bytes=1",
		"/_emulator/inject-control-char/nobody/inbox"} {
		if st, body := do("POST", p, ""); st != 400 {
			t.Errorf("%s: %d %s", p, st, body)
		}
	}
	if st, _ := do("POST", "/_emulator/mutations/start?rate=50", ""); st != 204 {
		t.Errorf("start mutations: %d", st)
	}
	time.Sleep(100 * time.Millisecond)
	if st, _ := do("POST", "/_emulator/mutations/stop", ""); st != 204 {
		t.Errorf("stop mutations: %d", st)
	}
}

// Teams: requests per second per app; OneDrive: resource units per window,
// 2 RU for a delta without a token and 1 with one.
// https://learn.microsoft.com/en-us/graph/throttling-limits#microsoft-teams-service-limits
// https://learn.microsoft.com/en-us/sharepoint/dev/general-development/how-to-avoid-getting-throttled-or-blocked-in-sharepoint-online
func TestTeamsAndDriveThrottling(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 20, Users: 2, MessagesPerUser: 1, DriveItemsPerUser: 500,
		Throttle: Throttle{Teams: TeamsLimits{RequestsPerSecond: 3}, Drive: DriveLimits{ResourceUnits: 5, Window: time.Minute}}})
	tok := b.appToken(t)
	u := b.srv.Users()[0].ID
	throttled := 0
	for _, r := range b.burst(t, tok, "/v1.0/users/"+u+"/chats", 6) {
		if r.status == 429 && r.code == "TooManyRequests" && r.retryAfter != "" {
			throttled++
		}
	}
	if throttled != 3 {
		t.Errorf("teams: %d throttled of 6, want 3", throttled)
	}
	// 2 RU (no token) + 1 + 1 + 1 = 5 RU; the next page is throttled.
	link := "/v1.0/users/" + u + "/drive/root/delta?$top=50"
	for i := 0; i < 4; i++ {
		resp, body := b.get(t, tok, link)
		if resp.StatusCode != 200 {
			t.Fatalf("page %d: %d %s", i, resp.StatusCode, body)
		}
		var p page
		_ = json.Unmarshal(body, &p)
		link = p.NextLink
	}
	resp, body := b.get(t, tok, link)
	if code, _ := graphErr(t, body); resp.StatusCode != 429 || code != "activityLimitReached" || resp.Header.Get("RateLimit-Limit") != "5" || resp.Header.Get("Retry-After") == "" {
		t.Errorf("drive: %d %s %v", resp.StatusCode, body, resp.Header)
	}
}
