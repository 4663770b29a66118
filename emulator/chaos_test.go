package emulator

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

// DeltaExpired answers requests carrying a valid token with each service's
// documented resync error; requests starting a round are left alone.
func TestFaultDeltaExpired(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 3, Users: 1, MessagesPerUser: 30})
	tok := b.appToken(t)
	u := b.srv.Users()[0].ID
	mail := b.syncRound(t, tok, "/v1.0/users/"+u+"/mailFolders/inbox/messages/delta", func(map[string]json.RawMessage) {})
	drive := b.syncRound(t, tok, "/v1.0/users/"+u+"/drive/root/delta", func(map[string]json.RawMessage) {})
	b.srv.SetFaults(Faults{DeltaExpired: 1})
	if resp, body := b.get(t, tok, mail); resp.StatusCode != 410 {
		t.Errorf("mail delta token: %d %s", resp.StatusCode, body)
	} else if code, _ := graphErr(t, body); code != "SyncStateNotFound" {
		t.Errorf("mail delta token: code %s", code)
	}
	resp, body := b.get(t, tok, drive)
	if code, _ := graphErr(t, body); resp.StatusCode != 410 || code != "resyncRequired" || !strings.Contains(resp.Header.Get("Location"), "/root/delta") {
		t.Errorf("drive delta token: %d %s, Location %q", resp.StatusCode, body, resp.Header.Get("Location"))
	}
	if resp, body := b.get(t, tok, "/v1.0/users/"+u+"/mailFolders/inbox/messages/delta"); resp.StatusCode != 200 {
		t.Errorf("a round's first request failed: %d %s", resp.StatusCode, body)
	}
	if n := b.srv.Counters().Faults["delta_expired"]; n != 2 {
		t.Errorf("delta_expired counted %d times, want 2", n)
	}
}

// TokenEndpoint answers token requests with the identity platform's
// transient errors and redeems nothing: the same refresh token works after.
func TestFaultTokenEndpoint(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 4, Users: 1, MessagesPerUser: 5})
	m := b.userTokens(t, "offline_access Mail.Read", b.srv.Users()[0].UserPrincipalName)
	rt, _ := m["refresh_token"].(string)
	refresh := url.Values{"client_id": {defaultClientID}, "client_secret": {defaultSecret}, "grant_type": {"refresh_token"}, "refresh_token": {rt}}
	b.srv.SetFaults(Faults{TokenEndpoint: 1})
	seen := map[string]bool{}
	for range 12 {
		status, body := b.postForm(t, "/common/oauth2/v2.0/token", refresh)
		var e struct {
			Error string `json:"error"`
			Codes []int  `json:"error_codes"`
		}
		_ = json.Unmarshal([]byte(body), &e)
		switch {
		case status == 503 && e.Error == "temporarily_unavailable" && len(e.Codes) == 1:
		case status == 500 && e.Error == "server_error" && len(e.Codes) == 1:
		default:
			t.Fatalf("token endpoint fault: %d %s", status, body)
		}
		seen[e.Error] = true
	}
	if len(seen) != 2 {
		t.Errorf("only %v among 12 faults", seen)
	}
	if g := b.srv.Counters().RefreshGrants; len(g) != 0 {
		t.Errorf("a failed request redeemed a grant: %v", g)
	}
	b.srv.SetFaults(Faults{})
	for range 2 {
		if status, body := b.postForm(t, "/common/oauth2/v2.0/token", refresh); status != 200 {
			t.Fatalf("refresh after the faults: %d %s", status, body)
		}
	}
	c := b.srv.Counters()
	if n := len(c.RefreshGrants[b.srv.Users()[0].ID]); n != 2 || c.RefreshTokensReused != 1 {
		t.Errorf("grants %d (want 2), reused %d (want 1)", n, c.RefreshTokensReused)
	}
}

// A page link served twice counts as refetched; faulted responses do not
// count as served.
func TestCountersPagesRefetched(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 5, Users: 1, MessagesPerUser: 40})
	tok := b.appToken(t)
	u := b.srv.Users()[0].ID
	resp, body := b.get(t, tok, "/v1.0/users/"+u+"/mailFolders/inbox/messages/delta", "Prefer", "odata.maxpagesize=5")
	if resp.StatusCode != 200 {
		t.Fatalf("first page: %d", resp.StatusCode)
	}
	next := jsonField(t, string(body), "@odata.nextLink")
	b.get(t, tok, next)
	// The emulator counts a page once its handler returns, which may be
	// after the client has read the whole body.
	pages := func(served, refetched, most int64) func() bool {
		return func() bool {
			c := b.srv.Counters()
			return c.PagesServed == served && c.PagesRefetched == refetched && int64(c.MaxFetchesPerPage) == most
		}
	}
	waitFor(t, "one page served", pages(1, 0, 1))
	b.srv.SetFaults(Faults{Truncated: 1})
	if resp, err := b.client.Get(next); err == nil {
		resp.Body.Close()
	}
	b.srv.SetFaults(Faults{})
	b.get(t, tok, next)
	waitFor(t, "the page served twice (served 2, refetched 1, most 2)", pages(2, 1, 2))
}
