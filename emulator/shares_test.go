package emulator

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A delegated token reads another user's mailbox only when that user shared
// it and the token carries Mail.Read.Shared (or Calendars.Read.Shared for
// the calendar); otherwise Outlook answers 403 ErrorAccessDenied. A share
// withdrawn is a 403 on the next request, deltaLinks included.
// https://learn.microsoft.com/graph/outlook-share-messages-folders
// https://learn.microsoft.com/graph/outlook-get-shared-events-calendars
func TestSharedMailboxes(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 31, Users: 3, MessagesPerUser: 20, EventsPerUser: 10, SharedMailboxes: 1})
	users := b.srv.Users()
	owner, delegate, stranger := users[0], users[1], users[2]
	if got := b.srv.MailboxShares(); len(got) != 1 || got[0] != (MailboxShare{Owner: owner.ID, Delegate: delegate.ID, Mail: true, Calendar: true}) {
		t.Fatalf("generated shares: %+v", got)
	}
	scope := "offline_access Mail.Read Calendars.Read Mail.Read.Shared Calendars.Read.Shared"
	tokDelegate := b.userTokens(t, scope, delegate.UserPrincipalName)["access_token"].(string)
	tokPlain := b.userTokens(t, "Mail.Read Calendars.Read", delegate.UserPrincipalName)["access_token"].(string)
	tokStranger := b.userTokens(t, scope, stranger.UserPrincipalName)["access_token"].(string)
	tokOwnShared := b.userTokens(t, "Mail.Read.Shared", owner.UserPrincipalName)["access_token"].(string)

	mail := "/v1.0/users/" + owner.UserPrincipalName + "/mailFolders/inbox/messages/delta"
	now := time.Now().UTC()
	cal := "/v1.0/users/" + owner.ID + "/calendarView/delta?startDateTime=" + now.AddDate(0, -1, 0).Format(time.RFC3339) + "&endDateTime=" + now.AddDate(0, 1, 0).Format(time.RFC3339)
	denied := func(tok, path, why string) {
		t.Helper()
		resp, body := b.get(t, tok, path)
		if code, _ := graphErr(t, body); resp.StatusCode != http.StatusForbidden || code != "ErrorAccessDenied" {
			t.Errorf("%s: %d %s", why, resp.StatusCode, body)
		}
	}
	mailLink := b.syncRound(t, tokDelegate, mail, func(map[string]json.RawMessage) {})
	calLink := b.syncRound(t, tokDelegate, cal, func(map[string]json.RawMessage) {})
	if resp, body := b.get(t, tokDelegate, "/v1.0/users/"+owner.ID+"/mailFolders"); resp.StatusCode != 200 {
		t.Errorf("shared folders list: %d %s", resp.StatusCode, body)
	}
	if resp, body := b.get(t, tokOwnShared, "/v1.0/me/mailFolders/inbox/messages/delta"); resp.StatusCode != 200 {
		t.Errorf("Mail.Read.Shared reads the user's own mail too: %d %s", resp.StatusCode, body)
	}
	denied(tokPlain, mail, "a share without Mail.Read.Shared")
	denied(tokStranger, mail, "Mail.Read.Shared without a share")
	denied(tokStranger, cal, "Calendars.Read.Shared without a share")
	denied(tokDelegate, "/v1.0/users/"+stranger.ID+"/mailFolders/inbox/messages/delta", "a mailbox shared with someone else")

	// Calendar only: mail is no longer readable, the calendar still is.
	if err := b.srv.ShareMailbox(MailboxShare{Owner: owner.ID, Delegate: delegate.UserPrincipalName, Calendar: true}); err != nil {
		t.Fatal(err)
	}
	denied(tokDelegate, mailLink, "mail after the share narrowed to the calendar")
	if resp, body := b.get(t, tokDelegate, calLink); resp.StatusCode != 200 {
		t.Errorf("calendar deltaLink after narrowing: %d %s", resp.StatusCode, body)
	}
	// Lost entirely: the next request of each kind is a 403.
	if err := b.srv.UnshareMailbox(owner.ID, delegate.ID); err != nil {
		t.Fatal(err)
	}
	denied(tokDelegate, calLink, "calendar after the share was withdrawn")
	if err := b.srv.UnshareMailbox(owner.ID, delegate.ID); err == nil {
		t.Error("withdrawing a share twice succeeded")
	}

	// The control plane shares and unshares too.
	ctl := func(method, path, body string) int {
		req, _ := http.NewRequest(method, b.srv.URL()+path, strings.NewReader(body))
		resp, err := b.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := ctl(http.MethodPost, "/_emulator/shares", `{"owner":"`+owner.ID+`","delegate":"`+delegate.ID+`","mail":true}`); st != 204 {
		t.Fatalf("share through the control plane: %d", st)
	}
	if resp, body := b.get(t, tokDelegate, mailLink); resp.StatusCode != 200 {
		t.Errorf("mail deltaLink after sharing again: %d %s", resp.StatusCode, body)
	}
	if st := ctl(http.MethodPost, "/_emulator/shares", `{"owner":"`+owner.ID+`","delegate":"`+owner.ID+`","mail":true}`); st != 400 {
		t.Errorf("sharing with oneself: %d", st)
	}
	if st := ctl(http.MethodDelete, "/_emulator/shares/"+owner.ID+"/"+delegate.ID, ""); st != 204 {
		t.Fatalf("unshare through the control plane: %d", st)
	}
	denied(tokDelegate, mail, "mail after the control plane withdrew the share")
	if _, err := New(Config{Users: 1, SharedMailboxes: 1}); err == nil {
		t.Error("SharedMailboxes with a single user was accepted")
	}
}
