package emulator

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func notifyCfg() Config {
	return Config{Seed: 41, Users: 2, MessagesPerUser: 10, EventsPerUser: 5, DriveItemsPerUser: 5, ChatsPerUser: 2,
		ChatMessagesPerChat: 3, PeoplePerUser: 2, ContactsPerUser: 4, Notifications: fastNotify()}
}

// Create, get, list, delete, with the documented shapes and the validation
// handshake on both URLs.
// https://learn.microsoft.com/en-us/graph/api/subscription-post-subscriptions
// https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks#notificationurl-validation
// https://learn.microsoft.com/en-us/graph/api/subscription-list ("clientState is not returned")
func TestSubscriptionLifecycleCRUD(t *testing.T) {
	t.Parallel()
	b := setup(t, notifyCfg())
	tok := b.appToken(t)
	u := b.srv.Users()[0].ID
	hook, life := newReceiver(t), newReceiver(t)
	body := sub("users/"+u+"/messages", "created,updated", hook.URL())
	body["lifecycleNotificationUrl"] = life.URL()
	st, m := b.subscribe(t, tok, body)
	if st != http.StatusCreated {
		t.Fatalf("create: %d %v", st, m)
	}
	for k, want := range map[string]any{"resource": "users/" + u + "/messages", "changeType": "created,updated",
		"clientState": "secret-state", "notificationUrl": hook.URL(), "lifecycleNotificationUrl": life.URL(),
		"applicationId": defaultClientID, "latestSupportedTlsVersion": "v1_2", "includeResourceData": false,
		"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity"} {
		if m[k] != want {
			t.Errorf("%s = %v, want %v", k, m[k], want)
		}
	}
	if c, _ := m["creatorId"].(string); c == "" {
		t.Errorf("creatorId empty: %v", m)
	}
	exp, err := time.Parse(time.RFC3339Nano, m["expirationDateTime"].(string))
	if err != nil || exp.Before(time.Now().Add(23*time.Hour)) {
		t.Errorf("expirationDateTime %v: %v", m["expirationDateTime"], err)
	}
	// Both URLs were validated with a POST carrying the token in the query;
	// the receiver saw it URL-decoded.
	for _, rc := range []*receiver{hook, life} {
		rc.mu.Lock()
		if len(rc.validations) != 1 || rc.validations[0].Method != http.MethodPost ||
			!strings.HasPrefix(rc.tokens[0], "Validation: Testing client application reachability for subscription Request-Id: ") ||
			!strings.HasPrefix(rc.validations[0].Header.Get("Content-Type"), "text/plain") {
			t.Errorf("validation requests: %d %v", len(rc.validations), rc.tokens)
		}
		rc.mu.Unlock()
	}
	id := m["id"].(string)
	st, out := b.call(t, http.MethodGet, tok, "/v1.0/subscriptions/"+id, nil)
	if st != 200 || jsonField(t, string(out), "clientState") != "secret-state" {
		t.Errorf("get: %d %s", st, out)
	}
	st, out = b.call(t, http.MethodGet, tok, "/v1.0/subscriptions", nil)
	var list struct {
		Value []map[string]any `json:"value"`
	}
	_ = json.Unmarshal(out, &list)
	if st != 200 || len(list.Value) != 1 || list.Value[0]["id"] != id || list.Value[0]["clientState"] != nil {
		t.Errorf("list: %d %s", st, out)
	}
	if infos := b.srv.Subscriptions(); len(infos) != 1 || infos[0].ID != id || infos[0].ClientState != "secret-state" || infos[0].Resource != "users/"+u+"/messages" {
		t.Errorf("Subscriptions() = %+v", infos)
	}
	if st, out := b.call(t, http.MethodDelete, tok, "/v1.0/subscriptions/"+id, nil); st != http.StatusNoContent {
		t.Errorf("delete: %d %s", st, out)
	}
	st, out = b.call(t, http.MethodGet, tok, "/v1.0/subscriptions/"+id, nil)
	if code, _ := graphErr(t, out); st != 404 || code != "ResourceNotFound" {
		t.Errorf("get after delete: %d %s", st, out)
	}
	if c := b.srv.NotificationCounters(); c.Created != 1 || c.Deleted != 1 || c.Subscriptions != 0 || c.Validations != 2 {
		t.Errorf("counters %+v", c)
	}
}

// The validation handshake must answer 200, text/plain, the exact token,
// within the timeout; otherwise the subscription is not created (400).
// https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks#notificationurl-validation
// Real errors: microsoftgraph/nodejs-webhooks-sample#158 and #350,
// java-spring-webhooks-sample#82.
func TestSubscriptionValidationFailures(t *testing.T) {
	t.Parallel()
	cfg := notifyCfg()
	cfg.Notifications.ValidationTimeout = 200 * time.Millisecond
	b := setup(t, cfg)
	tok := b.appToken(t)
	u := b.srv.Users()[0].ID
	cases := []struct {
		name     string
		answer   func(w http.ResponseWriter, token string)
		code     string
		fragment string
	}{
		{"status", func(w http.ResponseWriter, token string) { http.Error(w, token, http.StatusInternalServerError) },
			"ValidationError", "must respond with 200 OK"},
		{"encoded token", func(w http.ResponseWriter, token string) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, url.QueryEscape(token))
		}, "ValidationError", "exactly match validationToken"},
		{"json", func(w http.ResponseWriter, token string) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, token)
		}, "ValidationError", "text/plain"},
		{"slow", func(w http.ResponseWriter, token string) {
			time.Sleep(400 * time.Millisecond)
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, token)
		}, "InvalidRequest", "timed out"},
	}
	for _, tc := range cases {
		rc := newReceiver(t)
		rc.validation = tc.answer
		st, m := b.subscribe(t, tok, sub("users/"+u+"/events", "created", rc.URL()))
		if code, msg := errCode(m); st != 400 || code != tc.code || !strings.Contains(msg, tc.fragment) {
			t.Errorf("%s: %d %v", tc.name, st, m)
		}
	}
	// A failing lifecycle URL fails the creation too.
	hook, life := newReceiver(t), newReceiver(t)
	life.validation = func(w http.ResponseWriter, _ string) { w.WriteHeader(http.StatusNotFound) }
	body := sub("users/"+u+"/events", "created", hook.URL())
	body["lifecycleNotificationUrl"] = life.URL()
	if st, m := b.subscribe(t, tok, body); st != 400 {
		t.Errorf("bad lifecycle URL: %d %v", st, m)
	}
	// An unreachable endpoint fails without a request reaching it.
	down := newReceiver(t)
	b.srv.SetUnreachable(down.srv.URL, true)
	if st, m := b.subscribe(t, tok, sub("users/"+u+"/events", "created", down.URL())); st != 400 {
		t.Errorf("unreachable: %d %v", st, m)
	}
	if len(down.tokens) != 0 {
		t.Errorf("unreachable endpoint got %d validation requests", len(down.tokens))
	}
	if len(b.srv.Subscriptions()) != 0 {
		t.Errorf("failed validations created subscriptions: %v", b.srv.Subscriptions())
	}
	if c := b.srv.NotificationCounters(); c.Validations != 7 || c.ValidationsFailed != 6 {
		t.Errorf("validations %d, failed %d; want 7 and 6", c.Validations, c.ValidationsFailed)
	}
}

// The emulator sends only to loopback unless AllowRemote; remote URLs must
// then use HTTPS as Microsoft requires.
func TestSubscriptionLoopbackOnly(t *testing.T) {
	t.Parallel()
	b := setup(t, notifyCfg())
	tok := b.appToken(t)
	u := b.srv.Users()[0].ID
	for _, target := range []string{"https://webhook.example.com/api/notify", "http://10.1.2.3/hook", "ftp://127.0.0.1/x"} {
		st, m := b.subscribe(t, tok, sub("users/"+u+"/messages", "created", target))
		if code, _ := errCode(m); st != 400 || code != "ValidationError" {
			t.Errorf("%s: %d %v", target, st, m)
		}
	}
	remote := setup(t, Config{Seed: 2, Users: 1, MessagesPerUser: 1, Notifications: Notifications{AllowRemote: true}})
	if err := remote.srv.checkURL("http://webhook.example.com/x"); err == nil || !strings.Contains(err.Error(), "HTTPS") {
		t.Errorf("remote http accepted: %v", err)
	}
	if err := remote.srv.checkURL("https://webhook.example.com/x"); err != nil {
		t.Errorf("remote https refused with AllowRemote: %v", err)
	}
	if err := b.srv.checkURL("http://localhost:1/x"); err != nil {
		t.Errorf("localhost refused: %v", err)
	}
}

// Maximum lifetimes from the subscription resource's "Subscription
// lifetime" table; shorter than 45 minutes is set to 45 minutes; Teams
// resources need a lifecycle URL past one hour; drive root supports only
// "updated" and users "updated" and "deleted".
// https://learn.microsoft.com/en-us/graph/api/resources/subscription#subscription-lifetime
// https://learn.microsoft.com/en-us/graph/teams-changenotifications-chatmessage
func TestSubscriptionLifetimes(t *testing.T) {
	t.Parallel()
	b := setup(t, notifyCfg())
	tok := b.appToken(t)
	u := b.srv.Users()[0]
	chatID := firstChat(t, b, u.ID)
	hook, life := newReceiver(t), newReceiver(t)
	cases := []struct {
		resource, change string
		minutes          int
	}{
		{"users/" + u.ID + "/messages", "created", 10080},
		{"users/" + u.ID + "/mailFolders('inbox')/messages", "created", 10080},
		{"users/" + u.ID + "/events", "created", 10080},
		{"users/" + u.ID + "/contacts", "created", 10080},
		{"users/" + u.ID + "/drive/root", "updated", 42300},
		{"users", "updated", 41760},
		{"chats/" + chatID + "/messages", "created", 4320},
	}
	for _, tc := range cases {
		body := sub(tc.resource, tc.change, hook.URL())
		body["lifecycleNotificationUrl"] = life.URL()
		body["expirationDateTime"] = in(time.Duration(tc.minutes)*time.Minute + 2*time.Minute)
		st, m := b.subscribe(t, tok, body)
		if code, msg := errCode(m); st != 400 || code != "ExtensionError" || msg != fmt.Sprintf("Subscription expiration can only be %d minutes in the future.", tc.minutes) {
			t.Errorf("%s beyond maximum: %d %v", tc.resource, st, m)
		}
		body["expirationDateTime"] = in(time.Duration(tc.minutes)*time.Minute - time.Minute)
		if st, m := b.subscribe(t, tok, body); st != 201 {
			t.Errorf("%s within maximum: %d %v", tc.resource, st, m)
		}
	}
	// Under 45 minutes, even in the past, becomes 45 minutes.
	for i, e := range []time.Duration{10 * time.Minute, -time.Hour} {
		body := sub("users/"+u.ID+"/mailFolders/sentitems/messages", []string{"created", "updated"}[i], hook.URL())
		body["expirationDateTime"] = in(e)
		st, m := b.subscribe(t, tok, body)
		exp, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(m["expirationDateTime"]))
		if st != 201 || exp.Before(time.Now().Add(44*time.Minute)) || exp.After(time.Now().Add(46*time.Minute)) {
			t.Errorf("expiration %v: %d %v", e, st, m)
		}
	}
	// Chat messages without a lifecycle URL: at most one hour.
	body := sub("chats/"+chatID+"/messages", "updated", hook.URL())
	body["expirationDateTime"] = in(2 * time.Hour)
	st, m := b.subscribe(t, tok, body)
	if code, msg := errCode(m); st != 400 || code != "InvalidRequest" || !strings.HasPrefix(msg, "lifecycleNotificationUrl is a required property") {
		t.Errorf("chat past 1 hour without lifecycle URL: %d %v", st, m)
	}
	body["expirationDateTime"] = in(55 * time.Minute)
	if st, m := b.subscribe(t, tok, body); st != 201 {
		t.Errorf("chat within 1 hour: %d %v", st, m)
	}
	for _, tc := range [][2]string{{"users/" + u.ID + "/drive/root", "created"}, {"users", "created"}, {"users/" + u.ID + "/events", "moved"}} {
		if st, m := b.subscribe(t, tok, sub(tc[0], tc[1], hook.URL())); st != 400 {
			t.Errorf("%s %s accepted: %d %v", tc[0], tc[1], st, m)
		}
	}
}

func firstChat(t *testing.T, b *bundle, userID string) string {
	t.Helper()
	chats, err := b.srv.Truth(userID, "chats")
	if err != nil || len(chats) == 0 {
		t.Fatalf("chats of %s: %v", userID, err)
	}
	return jsonField(t, string(chats[0]), "id")
}

// Permissions follow subscription-post-subscriptions: the resource's read
// permission, delegated Outlook subscriptions for the signed-in user's
// mailbox only, tenant-wide chat messages application-only.
// https://learn.microsoft.com/en-us/graph/api/subscription-post-subscriptions#permissions
func TestSubscriptionPermissions(t *testing.T) {
	t.Parallel()
	cfg := notifyCfg()
	cfg.Apps = []App{{ClientID: defaultClientID, Secret: defaultSecret, RedirectURIs: []string{defaultRedirect}},
		{ClientID: "files-only", Secret: "s2", Roles: []string{"Files.Read.All"}}}
	b := setup(t, cfg)
	me, other := b.srv.Users()[0], b.srv.Users()[1]
	user := b.userTokens(t, "offline_access Mail.Read Chat.Read Files.Read.All User.ReadBasic.All Mail.Read.Shared", me.UserPrincipalName)["access_token"].(string)
	hook := newReceiver(t)
	ok := func(resource, change string) {
		t.Helper()
		body := sub(resource, change, hook.URL())
		body["expirationDateTime"] = in(50 * time.Minute) // chat messages: 1 hour without a lifecycle URL
		if st, m := b.subscribe(t, user, body); st != 201 {
			t.Errorf("delegated %s: %d %v", resource, st, m)
		}
	}
	denied := func(token, resource, change string) {
		t.Helper()
		st, m := b.subscribe(t, token, sub(resource, change, hook.URL()))
		if code, msg := errCode(m); st != 403 || code != "ExtensionError" || !strings.HasPrefix(msg, "Operation: Create; Exception: [Status Code: Forbidden;") {
			t.Errorf("%s: %d %v, want 403", resource, st, m)
		}
	}
	ok("me/messages", "created")
	ok("/me/mailFolders('Inbox')/messages", "created,updated")
	ok("me/drive/root", "updated")
	ok("users/"+other.ID+"/drive/root", "updated")
	ok("me/chats/getAllMessages", "created")
	denied(user, "users/"+other.ID+"/messages", "created") // Mail.Read.Shared does not help
	denied(user, "me/events", "created")                   // no Calendars.Read
	denied(user, "users", "updated")                       // User.ReadBasic.All is not enough
	denied(user, "chats/getAllMessages", "created")        // application only
	denied(user, "users/"+other.ID+"/chats/getAllMessages", "created")
	st, out := b.postForm(t, "/"+b.srv.TenantID()+"/oauth2/v2.0/token", url.Values{"client_id": {"files-only"}, "client_secret": {"s2"},
		"grant_type": {"client_credentials"}, "scope": {"https://graph.microsoft.com/.default"}})
	if st != 200 {
		t.Fatalf("token: %d %s", st, out)
	}
	files := jsonField(t, out, "access_token")
	denied(files, "users/"+me.ID+"/messages", "created")
	if st, m := b.subscribe(t, files, sub("users/"+me.ID+"/drive/root", "updated", hook.URL())); st != 201 {
		t.Errorf("app drive subscription: %d %v", st, m)
	}
	st2, m := b.subscribe(t, files, sub("me/messages", "created", hook.URL()))
	if code, _ := errCode(m); st2 != 400 || code != "BadRequest" {
		t.Errorf("/me with an app token: %d %v", st2, m)
	}
	for _, r := range []string{"users/nobody/messages", "users/" + me.ID + "/mailFolders/nope/messages", "chats/19:nope@thread.v2/messages", "drives/b!nope/root"} {
		if st, m := b.subscribe(t, b.appToken(t), sub(r, "updated", hook.URL())); st != 404 {
			t.Errorf("%s: %d %v, want 404", r, st, m)
		}
	}
	if st, m := b.subscribe(t, user, sub("me/todo/lists/x/tasks", "created", hook.URL())); st != 400 {
		t.Errorf("unsupported resource: %d %v", st, m)
	}
}

// Duplicate subscriptions (same changeType and resource, same app) are 409;
// a mailbox holds at most 1,000 active Outlook subscriptions across apps.
// https://learn.microsoft.com/en-us/graph/api/subscription-post-subscriptions#duplicate-subscription-behavior
// https://learn.microsoft.com/en-us/graph/outlook-change-notifications-overview
func TestSubscriptionDuplicatesAndMailboxLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, notifyCfg())
	tok := b.appToken(t)
	u, v := b.srv.Users()[0].ID, b.srv.Users()[1].ID
	hook := newReceiver(t)
	id := b.mustSubscribe(t, tok, sub("users/"+u+"/messages", "created,updated", hook.URL()))
	st, m := b.subscribe(t, tok, sub("Users/"+u+"/Messages", "updated,created", hook.URL()))
	if code, msg := errCode(m); st != 409 || code != "Conflict" || msg != "Subscription Id "+id+" already exists for the requested combination" {
		t.Errorf("duplicate: %d %v", st, m)
	}
	// Fill the mailbox to 1,000 with subscriptions of other apps.
	n := b.srv.notifier()
	n.mu.Lock()
	em := b.srv.Emulator
	em.mu.RLock()
	owner := em.lookupUser(u)
	em.mu.RUnlock()
	for i := 0; i < 998; i++ {
		s := &subscription{id: newGUID(), appID: fmt.Sprint("other-app-", i), changes: map[string]bool{"created": true},
			exp: time.Now().Add(time.Hour), mailbox: u, t: target{kind: tEvents, user: owner, canon: "users/" + u + "/events", outlook: true}}
		n.subs[s.id] = s
	}
	n.mu.Unlock()
	b.mustSubscribe(t, tok, sub("users/"+u+"/contacts", "created", hook.URL())) // the 1,000th
	st, m = b.subscribe(t, tok, sub("users/"+u+"/events", "created", hook.URL()))
	if code, msg := errCode(m); st != 403 || code != "ExtensionError" || !strings.Contains(msg, "limit of 1000 active subscriptions") {
		t.Errorf("1,001st: %d %v", st, m)
	}
	// Other mailboxes and non-Outlook resources are not limited.
	b.mustSubscribe(t, tok, sub("users/"+v+"/events", "created", hook.URL()))
	b.mustSubscribe(t, tok, sub("users/"+u+"/drive/root", "updated", hook.URL()))
	// Deleting one makes room.
	if st, _ := b.call(t, http.MethodDelete, tok, "/v1.0/subscriptions/"+id, nil); st != 204 {
		t.Fatalf("delete: %d", st)
	}
	b.mustSubscribe(t, tok, sub("users/"+u+"/events", "created", hook.URL()))
}

// PATCH renews (and may move the notification URL, validated again);
// lifecycleNotificationUrl cannot be added; an empty body is refused;
// POST .../reauthorize answers 204.
// https://learn.microsoft.com/en-us/graph/api/subscription-update
// https://learn.microsoft.com/en-us/graph/change-notifications-lifecycle-events
func TestSubscriptionUpdate(t *testing.T) {
	t.Parallel()
	b := setup(t, notifyCfg())
	tok := b.appToken(t)
	u := b.srv.Users()[0].ID
	hook, hook2 := newReceiver(t), newReceiver(t)
	id := b.mustSubscribe(t, tok, sub("users/"+u+"/messages", "created", hook.URL()))
	path := "/v1.0/subscriptions/" + id
	st, out := b.call(t, http.MethodPatch, tok, path, map[string]any{"expirationDateTime": in(72 * time.Hour)})
	exp, _ := time.Parse(time.RFC3339Nano, jsonField(t, string(out), "expirationDateTime"))
	if st != 200 || exp.Before(time.Now().Add(71*time.Hour)) {
		t.Errorf("renew: %d %s", st, out)
	}
	st, out = b.call(t, http.MethodPatch, tok, path, map[string]any{"expirationDateTime": in(8 * 24 * time.Hour)})
	if st != 400 {
		t.Errorf("renew beyond maximum: %d %s", st, out)
	}
	st, out = b.call(t, http.MethodPatch, tok, path, map[string]any{"notificationUrl": hook2.URL()})
	if st != 200 || jsonField(t, string(out), "notificationUrl") != hook2.URL() || len(hook2.tokens) != 1 {
		t.Errorf("new notificationUrl: %d %s (validations %d)", st, out, len(hook2.tokens))
	}
	if st, out := b.call(t, http.MethodPatch, tok, path, map[string]any{"lifecycleNotificationUrl": hook.URL()}); st != 400 {
		t.Errorf("adding a lifecycle URL: %d %s", st, out)
	}
	st, out = b.call(t, http.MethodPatch, tok, path, map[string]any{})
	if _, msg := graphErr(t, out); st != 400 || !strings.Contains(msg, "either the 'expirationDateTime' or 'notificationUrl'") {
		t.Errorf("empty PATCH: %d %s", st, out)
	}
	if st, out := b.call(t, http.MethodPost, tok, path+"/reauthorize", nil); st != 204 {
		t.Errorf("reauthorize: %d %s", st, out)
	}
	if st, _ := b.call(t, http.MethodPatch, tok, "/v1.0/subscriptions/"+newGUID(), map[string]any{"expirationDateTime": in(time.Hour)}); st != 404 {
		t.Errorf("PATCH unknown: %d", st)
	}
	// Notifications now go to the new URL.
	if _, err := b.srv.AddPoisonContact(u); err != nil {
		t.Fatal(err)
	}
	if err := b.srv.InjectRaw(u, "inbox", []byte(`{"id":"moved-url-item"}`)); err != nil {
		t.Fatal(err)
	}
	hook2.waitNotes(t, 1, nil)
	if len(hook.notes()) != 0 {
		t.Errorf("old URL still notified: %v", hook.notes())
	}
}

// Subscriptions are visible to the app that created them, and to delegated
// callers only for their own user (subscription-list).
// https://learn.microsoft.com/en-us/graph/api/subscription-list
func TestSubscriptionVisibility(t *testing.T) {
	t.Parallel()
	cfg := notifyCfg()
	cfg.Apps = []App{{ClientID: defaultClientID, Secret: defaultSecret, RedirectURIs: []string{defaultRedirect}},
		{ClientID: "second-app", Secret: "s2"}}
	b := setup(t, cfg)
	users := b.srv.Users()
	hook := newReceiver(t)
	alice := b.userTokens(t, "Mail.Read", users[0].UserPrincipalName)["access_token"].(string)
	bob := b.userTokens(t, "Mail.Read", users[1].UserPrincipalName)["access_token"].(string)
	a := b.mustSubscribe(t, alice, sub("me/messages", "created", hook.URL()))
	b.mustSubscribe(t, bob, sub("me/messages", "created", hook.URL()))
	app := b.appToken(t)
	c := b.mustSubscribe(t, app, sub("users/"+users[0].ID+"/events", "created", hook.URL()))
	st, out := b.postForm(t, "/"+b.srv.TenantID()+"/oauth2/v2.0/token", url.Values{"client_id": {"second-app"}, "client_secret": {"s2"},
		"grant_type": {"client_credentials"}, "scope": {"https://graph.microsoft.com/.default"}})
	if st != 200 {
		t.Fatal(out)
	}
	second := jsonField(t, out, "access_token")
	count := func(token string) int {
		_, out := b.call(t, http.MethodGet, token, "/v1.0/subscriptions", nil)
		var l struct{ Value []any }
		_ = json.Unmarshal(out, &l)
		return len(l.Value)
	}
	if n := count(alice); n != 1 {
		t.Errorf("alice sees %d", n)
	}
	if n := count(app); n != 3 {
		t.Errorf("the app sees %d, want all 3 of its subscriptions", n)
	}
	if n := count(second); n != 0 {
		t.Errorf("another app sees %d", n)
	}
	if st, _ := b.call(t, http.MethodGet, bob, "/v1.0/subscriptions/"+a, nil); st != 404 {
		t.Errorf("bob reads alice's subscription: %d", st)
	}
	if st, _ := b.call(t, http.MethodDelete, second, "/v1.0/subscriptions/"+c, nil); st != 404 {
		t.Errorf("another app deletes: %d", st)
	}
}

// The Go SDK gzips request bodies; creating a subscription accepts them.
func TestSubscriptionGzipBody(t *testing.T) {
	t.Parallel()
	b := setup(t, notifyCfg())
	hook := newReceiver(t)
	j, _ := json.Marshal(sub("users/"+b.srv.Users()[0].ID+"/events", "created", hook.URL()))
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(j)
	_ = zw.Close()
	req, _ := http.NewRequestWithContext(ctxT(t), http.MethodPost, b.srv.URL()+"/v1.0/subscriptions", &buf)
	req.Header.Set("Authorization", "Bearer "+b.appToken(t))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 201 {
		out, _ := io.ReadAll(resp.Body)
		t.Errorf("gzip create: %d %s", resp.StatusCode, out)
	}
	st, out := b.call(t, http.MethodPost, b.appToken(t), "/v1.0/subscriptions", map[string]any{"changeType": "created", "resource": "users"})
	if code, msg := graphErr(t, out); st != 400 || code != "InvalidRequest" || !strings.Contains(msg, "is a required property for subscription creation") {
		t.Errorf("missing properties: %d %s", st, out)
	}
}
