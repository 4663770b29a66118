package emulator

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// waitScanned waits until every change made so far has been turned into
// notifications, so that each mutation gets its own scan.
func waitScanned(t *testing.T, em *Emulator) {
	t.Helper()
	waitFor(t, "scan", func() bool {
		em.mu.RLock()
		v := em.version
		em.mu.RUnlock()
		em.ntf.scanMu.Lock()
		defer em.ntf.scanMu.Unlock()
		return em.ntf.lastVer >= v
	})
}

// waitDelivered waits until every queued change notification is delivered.
func waitDelivered(t *testing.T, em *Emulator) NotificationCounters {
	t.Helper()
	var c NotificationCounters
	waitFor(t, "delivery", func() bool {
		c = em.NotificationCounters()
		return c.Delivered == c.Notifications
	})
	return c
}

func resourceData(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	rd, ok := m["resourceData"].(map[string]any)
	if !ok {
		t.Fatalf("resourceData missing: %v", m)
	}
	return rd
}

// Mail changes produce created, updated and deleted notifications of the
// documented shape, with immutable ids when the subscription was created
// with Prefer: IdType="ImmutableId". A move is a deletion of the old copy
// and a creation of the new one, as messages delta shows it.
// https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks#change-notification-example
// https://learn.microsoft.com/en-us/graph/api/resources/changenotification
// https://learn.microsoft.com/en-us/graph/outlook-immutable-id#immutable-id-with-change-notifications
func TestChangeNotificationsMail(t *testing.T) {
	t.Parallel()
	cfg := notifyCfg()
	cfg.Users = 1
	b := setup(t, cfg)
	tok := b.appToken(t)
	u := b.srv.Users()[0].ID
	hook := newReceiver(t)
	id := b.mustSubscribe(t, tok, sub("users/"+u+"/messages", "created,updated,deleted", hook.URL()), "Prefer", `IdType="ImmutableId"`)
	type want struct{ kind, id string }
	var expect []want
	for i := 0; i < 60; i++ {
		for _, d := range b.srv.Mutate(1) {
			f := strings.Fields(d)
			imm := f[len(f)-1]
			switch {
			case strings.HasPrefix(d, "message created"):
				expect = append(expect, want{"created", imm})
			case strings.HasPrefix(d, "message updated"):
				expect = append(expect, want{"updated", imm})
			case strings.HasPrefix(d, "message moved"), strings.HasPrefix(d, "message deleted to"):
				expect = append(expect, want{"deleted", imm}, want{"created", imm})
			case strings.HasPrefix(d, "message permanently"):
				expect = append(expect, want{"deleted", imm})
			}
		}
		waitScanned(t, b.srv.Emulator)
	}
	if len(expect) < 10 {
		t.Fatalf("only %d mail changes in 60 mutations", len(expect))
	}
	c := waitDelivered(t, b.srv.Emulator)
	got := map[want]int{}
	for _, m := range hook.notes() {
		rd := resourceData(t, m)
		rid, _ := rd["id"].(string)
		if m["subscriptionId"] != id || m["clientState"] != "secret-state" || m["tenantId"] != b.srv.Users()[0].TenantID ||
			m["resource"] != "Users/"+u+"/Messages/"+rid || rd["@odata.id"] != m["resource"] || rd["@odata.type"] != "#Microsoft.Graph.Message" {
			t.Errorf("notification shape: %v", m)
		}
		if _, err := time.Parse(time.RFC3339Nano, fmt.Sprint(m["subscriptionExpirationDateTime"])); err != nil {
			t.Errorf("subscriptionExpirationDateTime: %v", m)
		}
		if m["changeType"] != "deleted" && rd["@odata.etag"] == nil {
			t.Errorf("no etag: %v", m)
		}
		got[want{m["changeType"].(string), rid}]++
	}
	for _, w := range expect {
		if got[w] == 0 {
			t.Errorf("no %s notification for %s", w.kind, w.id)
		}
		got[w]--
	}
	if c.Notifications != c.Delivered || c.Failed != 0 || c.Posts == 0 {
		t.Errorf("counters %+v", c)
	}
}

// A folder subscription sees only that folder's messages; changeType
// filters what is sent.
func TestChangeNotificationsFolder(t *testing.T) {
	t.Parallel()
	b := setup(t, notifyCfg())
	tok := b.appToken(t)
	u := b.srv.Users()[0].ID
	hook, deletes := newReceiver(t), newReceiver(t)
	b.mustSubscribe(t, tok, sub("users/"+u+"/mailFolders('Inbox')/messages", "created", hook.URL()))
	b.mustSubscribe(t, tok, sub("users/"+u+"/mailFolders/inbox/messages", "deleted", deletes.URL()))
	for _, f := range []string{"archive", "inbox", "sentitems"} {
		if err := b.srv.InjectRaw(u, f, []byte(`{"id":"item-in-`+f+`"}`)); err != nil {
			t.Fatal(err)
		}
	}
	got := hook.waitNotes(t, 1, nil)
	waitScanned(t, b.srv.Emulator)
	waitDelivered(t, b.srv.Emulator)
	if got = hook.notes(); len(got) != 1 || got[0]["resource"] != "Users/"+u+"/Messages/item-in-inbox" || got[0]["changeType"] != "created" {
		t.Errorf("inbox subscription got %v", got)
	}
	if n := deletes.notes(); len(n) != 0 {
		t.Errorf("deleted-only subscription got %v", n)
	}
}

// Events, contacts, drive, users and chat messages.
// https://learn.microsoft.com/en-us/graph/api/resources/subscription (drive root: updated only; users: updated for created, updated, soft deleted)
// https://learn.microsoft.com/en-us/graph/teams-change-notification-in-microsoft-teams-overview#notifications-without-resource-data
// Drive notifications carry resourceData null and the subscribed resource (subscription-post-subscriptions, older versions).
func TestChangeNotificationsOtherResources(t *testing.T) {
	t.Parallel()
	cfg := notifyCfg()
	cfg.Users = 3
	b := setup(t, cfg)
	tok := b.appToken(t)
	users := b.srv.Users()
	u := users[0].ID
	events, contacts, drive, dir, chats, all := newReceiver(t), newReceiver(t), newReceiver(t), newReceiver(t), newReceiver(t), newReceiver(t)
	for _, s := range []map[string]any{
		sub("users/"+u+"/events", "created,updated,deleted", events.URL()),
		sub("users/"+u+"/drive/root", "updated", drive.URL()),
		sub("users", "updated", dir.URL()),
	} {
		b.mustSubscribe(t, tok, s)
	}
	// AddPoisonContact returns the immutable id.
	b.mustSubscribe(t, tok, sub("users/"+u+"/contacts", "created,updated,deleted", contacts.URL()), "Prefer", `IdType="ImmutableId"`)
	chatID := firstChat(t, b, u)
	for resource, rc := range map[string]*receiver{"chats/" + chatID + "/messages": chats, "chats/getAllMessages": all} {
		s := sub(resource, "created,updated,deleted", rc.URL())
		s["expirationDateTime"] = in(50 * time.Minute)
		b.mustSubscribe(t, tok, s)
	}

	// Events: apply mutations until some touch the first user's calendar
	// (descriptions do not name the user; the truth does).
	var eventIDs []string
	for i := 0; i < 300 && len(eventIDs) < 2; i++ {
		for _, d := range b.srv.Mutate(1) {
			if strings.HasPrefix(d, "event created") || strings.HasPrefix(d, "event updated") {
				f := strings.Fields(d)
				truth, _ := b.srv.Truth(u, "events")
				if slices.ContainsFunc(truth, func(e json.RawMessage) bool { return jsonField(t, string(e), "id") == f[len(f)-1] }) {
					eventIDs = append(eventIDs, f[len(f)-1])
				}
			}
		}
	}
	if len(eventIDs) == 0 {
		t.Fatal("no event change of the first user in 300 mutations")
	}
	cid, err := b.srv.AddPoisonContact(u)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.srv.AddPoisonDriveItem(u); err != nil {
		t.Fatal(err)
	}
	if !b.srv.RemoveUser(users[2].ID) {
		t.Fatal("remove user")
	}
	msgID, err := b.srv.AddChatMessage(chatID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	waitScanned(t, b.srv.Emulator)

	isEvent := func(m map[string]any) bool {
		rd := resourceData(t, m)
		return rd["@odata.type"] == "#Microsoft.Graph.Event" && slices.Contains(eventIDs, fmt.Sprint(rd["id"]))
	}
	events.waitNotes(t, len(eventIDs), isEvent)
	c := contacts.waitNotes(t, 1, func(m map[string]any) bool { return resourceData(t, m)["id"] == cid })
	if c[0]["changeType"] != "created" || c[0]["resource"] != "Users/"+u+"/Contacts/"+cid || resourceData(t, c[0])["@odata.type"] != "#Microsoft.Graph.Contact" {
		t.Errorf("contact notification: %v", c[0])
	}
	d := drive.waitNotes(t, 1, nil)
	if d[0]["changeType"] != "updated" || d[0]["resource"] != "users/"+u+"/drive/root" || d[0]["resourceData"] != nil {
		t.Errorf("drive notification: %v", d[0])
	}
	du := dir.waitNotes(t, 1, nil)
	if rd := resourceData(t, du[0]); du[0]["changeType"] != "updated" || du[0]["resource"] != "Users/"+users[2].ID ||
		rd["@odata.type"] != "#Microsoft.Graph.User" || rd["organizationId"] != b.srv.TenantID() {
		t.Errorf("user notification: %v", du[0])
	}
	res := "chats('" + chatID + "')/messages('" + msgID + "')"
	for _, rc := range []*receiver{chats, all} {
		n := rc.waitNotes(t, 1, func(m map[string]any) bool { return m["resource"] == res })
		if rd := resourceData(t, n[0]); n[0]["changeType"] != "created" || rd["id"] != msgID || rd["@odata.type"] != "#Microsoft.Graph.chatMessage" || rd["@odata.id"] != res {
			t.Errorf("chat notification: %v", n[0])
		}
	}
	// Restoring the user is an update too.
	if !b.srv.RestoreUser(users[2].ID) {
		t.Fatal("restore user")
	}
	dir.waitNotes(t, 2, nil)
	// One drive change, one notification.
	waitDelivered(t, b.srv.Emulator)
	before := len(drive.notes())
	if _, err := b.srv.AddPoisonDriveItem(u); err != nil {
		t.Fatal(err)
	}
	waitScanned(t, b.srv.Emulator)
	waitDelivered(t, b.srv.Emulator)
	if n := len(drive.notes()); n != before+1 {
		t.Errorf("drive notifications: %d after one change, want %d", n, before+1)
	}
}

// Notifications for one URL that arrive within the batching window share a
// POST, at most MaxBatch to a POST.
// https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks ("may send multiple notifications ... in the same POST request")
func TestNotificationBatching(t *testing.T) {
	t.Parallel()
	cfg := notifyCfg()
	cfg.Notifications.BatchWindow = 300 * time.Millisecond
	cfg.Notifications.MaxBatch = 4
	b := setup(t, cfg)
	tok := b.appToken(t)
	u := b.srv.Users()[0].ID
	hook := newReceiver(t)
	b.mustSubscribe(t, tok, sub("users/"+u+"/mailFolders/inbox/messages", "created", hook.URL()))
	for i := range 10 {
		if err := b.srv.InjectRaw(u, "inbox", fmt.Appendf(nil, `{"id":"batch-%d"}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	hook.waitNotes(t, 10, nil)
	hook.mu.Lock()
	sizes := []int{}
	for _, p := range hook.posts {
		sizes = append(sizes, len(p))
	}
	hook.mu.Unlock()
	slices.Sort(sizes)
	if !slices.Equal(sizes, []int{2, 4, 4}) {
		t.Errorf("POST sizes %v, want 4, 4 and 2", sizes)
	}
}

// A delivery not answered 2xx within the timeout is retried with backoff;
// after the retry window (4 hours × Scale) it is given up and missed goes
// to the lifecycle URL.
// https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks#processing-the-change-notification
// https://learn.microsoft.com/en-us/graph/change-notifications-lifecycle-events#missed-notifications
func TestNotificationRetriesAndMissed(t *testing.T) {
	t.Parallel()
	cfg := notifyCfg()
	cfg.Notifications.DeliveryTimeout = 150 * time.Millisecond
	b := setup(t, cfg)
	tok := b.appToken(t)
	u := b.srv.Users()[0].ID
	flaky, slow, dead, life := newReceiver(t), newReceiver(t), newReceiver(t), newReceiver(t)
	flaky.failFirst.Store(2)
	slow.delay.Store(int64(300 * time.Millisecond)) // beyond DeliveryTimeout, within RetryTimeout
	dead.status.Store(http.StatusServiceUnavailable)
	// One app may not subscribe twice with the same resource and change
	// types: vary the change types.
	ids := map[*receiver]string{}
	for i, rc := range []*receiver{flaky, slow, dead} {
		s := sub("users/"+u+"/mailFolders/inbox/messages", []string{"created", "created,updated", "created,deleted"}[i], rc.URL())
		s["lifecycleNotificationUrl"] = life.URL()
		ids[rc] = b.mustSubscribe(t, tok, s)
	}
	start := time.Now()
	if err := b.srv.InjectRaw(u, "inbox", []byte(`{"id":"retry-me"}`)); err != nil {
		t.Fatal(err)
	}
	flaky.waitNotes(t, 1, nil)
	slow.waitNotes(t, 1, nil)
	m := life.waitNotes(t, 1, func(m map[string]any) bool { return m["lifecycleEvent"] == "missed" })
	if m[0]["subscriptionId"] != ids[dead] || m[0]["clientState"] != "secret-state" || m[0]["tenantId"] == nil || m[0]["subscriptionExpirationDateTime"] == nil {
		t.Errorf("missed notification: %v", m[0])
	}
	// Retries at 6, 18, 42, 90, 186, 378, 762 and 1,122 ms; the next one
	// would pass the 1.44 s window.
	if took := time.Since(start); took < 1100*time.Millisecond || took > 3*time.Second {
		t.Errorf("gave up after %s, want the last retry within the scaled 4-hour window (1.44 s)", took)
	}
	var c NotificationCounters
	waitFor(t, "counters", func() bool { c = b.srv.NotificationCounters(); return c.Failed == 1 && c.Delivered == 2 })
	if c.Notifications != 3 || c.Retried < 3 || c.Lifecycle["missed"] != 1 || c.SlowPosts < 1 || c.PostsFailed < 3 {
		t.Errorf("counters %+v", c)
	}
	states := map[string]string{}
	attempts := map[string]int{}
	for _, r := range b.srv.NotificationLog() {
		if r.ChangeType != "" {
			states[r.SubscriptionID], attempts[r.SubscriptionID] = r.State, r.Attempts
		}
	}
	if states[ids[flaky]] != "delivered" || attempts[ids[flaky]] != 3 || states[ids[slow]] != "delivered" || attempts[ids[slow]] != 2 ||
		states[ids[dead]] != "failed" || attempts[ids[dead]] < 5 {
		t.Errorf("records: states %v attempts %v", states, attempts)
	}
	if len(dead.notes()) != 0 {
		t.Errorf("a 503 counted as received")
	}
}

// Deleting or expiring a subscription stops its notifications; an expired
// subscription answers 404.
func TestSubscriptionExpiry(t *testing.T) {
	t.Parallel()
	b := setup(t, notifyCfg())
	tok := b.appToken(t)
	u := b.srv.Users()[0].ID
	hook, other := newReceiver(t), newReceiver(t)
	id := b.mustSubscribe(t, tok, sub("users/"+u+"/mailFolders/inbox/messages", "created", hook.URL()))
	live := b.mustSubscribe(t, tok, sub("users/"+u+"/messages", "created", other.URL()))
	if err := b.srv.ExpireSubscription(id); err != nil {
		t.Fatal(err)
	}
	if st, _ := b.call(t, http.MethodGet, tok, "/v1.0/subscriptions/"+id, nil); st != 404 {
		t.Errorf("expired subscription: %d", st)
	}
	if err := b.srv.InjectRaw(u, "inbox", []byte(`{"id":"after-expiry"}`)); err != nil {
		t.Fatal(err)
	}
	other.waitNotes(t, 1, nil)
	waitDelivered(t, b.srv.Emulator)
	if n := hook.notes(); len(n) != 0 {
		t.Errorf("expired subscription notified: %v", n)
	}
	// By the clock: at its expirationDateTime the subscription is gone.
	em := b.srv.Emulator
	em.setClock(func() time.Time { return time.Now().Add(25 * time.Hour) })
	if st, _ := b.call(t, http.MethodGet, b.appToken(t), "/v1.0/subscriptions/"+live, nil); st != 404 {
		t.Errorf("subscription past its expiration: %d", st)
	}
	if c := b.srv.NotificationCounters(); c.Expired != 2 || c.Subscriptions != 0 {
		t.Errorf("counters %+v", c)
	}
}

// Lifecycle notifications have the documented shape; subscriptionRemoved
// removes the subscription; the Go API refuses events Graph does not send
// for a resource.
// https://learn.microsoft.com/en-us/graph/change-notifications-lifecycle-events#structure-of-a-lifecycle-notification
func TestLifecycleNotifications(t *testing.T) {
	t.Parallel()
	b := setup(t, notifyCfg())
	tok := b.appToken(t)
	u := b.srv.Users()[0].ID
	hook, life := newReceiver(t), newReceiver(t)
	mk := func(resource, change string, withLife bool) string {
		s := sub(resource, change, hook.URL())
		if withLife {
			s["lifecycleNotificationUrl"] = life.URL()
		}
		return b.mustSubscribe(t, tok, s)
	}
	mail := mk("users/"+u+"/messages", "created", true)
	drive := mk("users/"+u+"/drive/root", "updated", true)
	bare := mk("users/"+u+"/events", "created", false)
	if err := b.srv.SendLifecycle(mail, "missed"); err != nil {
		t.Fatal(err)
	}
	if err := b.srv.SendLifecycle(drive, "reauthorizationRequired"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][2]string{{drive, "missed"}, {bare, "missed"}, {mail, "weird"}, {"nope", "missed"}} {
		if err := b.srv.SendLifecycle(bad[0], bad[1]); err == nil {
			t.Errorf("SendLifecycle(%s, %s) accepted", bad[0], bad[1])
		}
	}
	if err := b.srv.RemoveSubscription(mail); err != nil {
		t.Fatal(err)
	}
	if err := b.srv.RemoveSubscription(drive); err != nil {
		t.Fatal(err)
	}
	got := life.waitNotes(t, 3, nil)
	events := map[string]string{}
	for _, m := range got {
		events[m["subscriptionId"].(string)+"/"+m["lifecycleEvent"].(string)] = m["clientState"].(string)
		for _, k := range []string{"subscriptionId", "subscriptionExpirationDateTime", "tenantId", "clientState", "lifecycleEvent"} {
			if m[k] == nil {
				t.Errorf("lifecycle notification lacks %s: %v", k, m)
			}
		}
		if m["resource"] != nil || m["changeType"] != nil {
			t.Errorf("lifecycle notification names a resource: %v", m)
		}
	}
	for _, k := range []string{mail + "/missed", drive + "/reauthorizationRequired", mail + "/subscriptionRemoved"} {
		if events[k] != "secret-state" {
			t.Errorf("no %s: %v", k, events)
		}
	}
	if _, ok := events[drive+"/subscriptionRemoved"]; ok {
		t.Errorf("subscriptionRemoved sent for a drive subscription (Graph sends it for Outlook and chat messages only)")
	}
	for _, id := range []string{mail, drive} {
		if st, _ := b.call(t, http.MethodGet, tok, "/v1.0/subscriptions/"+id, nil); st != 404 {
			t.Errorf("removed subscription %s: %d", id, st)
		}
	}
	c := b.srv.NotificationCounters()
	if c.Lifecycle["missed"] != 1 || c.Lifecycle["reauthorizationRequired"] != 1 || c.Lifecycle["subscriptionRemoved"] != 1 || c.Removed != 2 {
		t.Errorf("counters %+v", c)
	}
}

// reauthorizationRequired comes before the authorizing access token
// expires; without a reauthorization delivery pauses (changes are lost);
// POST /reauthorize resumes it.
// https://learn.microsoft.com/en-us/graph/change-notifications-lifecycle-events#reauthorizationrequired-notifications
func TestReauthorizationPausesDelivery(t *testing.T) {
	t.Parallel()
	cfg := notifyCfg()
	// Tokens carry whole seconds: a lifetime of one second can lapse
	// before the subscription is created on a slow machine.
	cfg.AccessTokenLifetime = 3 * time.Second
	cfg.Notifications.Scale = 0.0002 // challenge 0.18 s ahead, pause 0.72 s after expiry
	b := setup(t, cfg)
	u := b.srv.Users()[0].ID
	hook, life := newReceiver(t), newReceiver(t)
	s := sub("users/"+u+"/mailFolders/inbox/messages", "created", hook.URL())
	s["lifecycleNotificationUrl"] = life.URL()
	id := b.mustSubscribe(t, b.appToken(t), s)
	life.waitNotes(t, 1, func(m map[string]any) bool { return m["lifecycleEvent"] == "reauthorizationRequired" })
	waitFor(t, "pause", func() bool { i := b.srv.Subscriptions(); return len(i) == 1 && i[0].Paused })
	if err := b.srv.InjectRaw(u, "inbox", []byte(`{"id":"lost"}`)); err != nil {
		t.Fatal(err)
	}
	waitScanned(t, b.srv.Emulator)
	if c := b.srv.NotificationCounters(); c.Dropped != 1 || len(hook.notes()) != 0 {
		t.Errorf("paused subscription: %+v, notes %v", c, hook.notes())
	}
	if st, out := b.call(t, http.MethodPost, b.appToken(t), "/v1.0/subscriptions/"+id+"/reauthorize", nil); st != 204 {
		t.Fatalf("reauthorize: %d %s", st, out)
	}
	if i := b.srv.Subscriptions(); i[0].Paused {
		t.Errorf("still paused after reauthorize")
	}
	if err := b.srv.InjectRaw(u, "inbox", []byte(`{"id":"found"}`)); err != nil {
		t.Fatal(err)
	}
	n := hook.waitNotes(t, 1, nil)
	if n[0]["resource"] != "Users/"+u+"/Messages/found" {
		t.Errorf("after reauthorize: %v", n)
	}
}

// A reauthorizationRequired is sent before the subscription expires.
func TestReauthorizationBeforeExpiry(t *testing.T) {
	t.Parallel()
	cfg := notifyCfg()
	cfg.Notifications.Scale = 0.001 // 15 minutes ahead becomes 0.9 s
	b := setup(t, cfg)
	u := b.srv.Users()[0].ID
	hook, life := newReceiver(t), newReceiver(t)
	s := sub("users/"+u+"/events", "created", hook.URL())
	s["lifecycleNotificationUrl"] = life.URL()
	s["expirationDateTime"] = in(50 * time.Minute)
	b.mustSubscribe(t, b.appToken(t), s)
	time.Sleep(3 * janitorPeriod)
	if n := life.notes(); len(n) != 0 {
		t.Fatalf("challenge long before expiry: %v", n)
	}
	b.srv.setClock(func() time.Time { return time.Now().Add(50*time.Minute - 500*time.Millisecond) })
	life.waitNotes(t, 1, func(m map[string]any) bool { return m["lifecycleEvent"] == "reauthorizationRequired" })
}

// An endpoint whose responses are slow more than 15% of the time, over at
// least 100 responses, has its notifications dropped; missed follows.
// https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks#throttling
func TestNotificationThrottledEndpoint(t *testing.T) {
	t.Parallel()
	cfg := notifyCfg()
	cfg.Notifications.DeliveryTimeout = 90 * time.Millisecond // slow beyond 87 ms
	cfg.Notifications.BatchWindow = -1
	cfg.Notifications.MaxBatch = 1
	cfg.Notifications.Scale = 0.01 // 10-minute window: 6 s
	b := setup(t, cfg)
	u := b.srv.Users()[0].ID
	hook, life := newReceiver(t), newReceiver(t)
	s := sub("users/"+u+"/mailFolders/inbox/messages", "created", hook.URL())
	s["lifecycleNotificationUrl"] = life.URL()
	b.mustSubscribe(t, b.appToken(t), s)
	hook.delay.Store(int64(100 * time.Millisecond))
	for i := range 24 {
		_ = b.srv.InjectRaw(u, "inbox", fmt.Appendf(nil, `{"id":"slow-%d"}`, i))
	}
	waitFor(t, "slow posts", func() bool { return b.srv.NotificationCounters().SlowPosts >= 24 })
	hook.delay.Store(0)
	for i := range 80 {
		_ = b.srv.InjectRaw(u, "inbox", fmt.Appendf(nil, `{"id":"fast-%d"}`, i))
	}
	life.waitNotes(t, 1, func(m map[string]any) bool { return m["lifecycleEvent"] == "missed" })
	if c := b.srv.NotificationCounters(); c.Dropped == 0 {
		t.Errorf("no notification dropped: %+v", c)
	}
}

// The control plane mirrors the Go API.
func TestNotificationControlPlane(t *testing.T) {
	t.Parallel()
	b := setup(t, notifyCfg())
	tok := b.appToken(t)
	u := b.srv.Users()[0].ID
	hook, life := newReceiver(t), newReceiver(t)
	s := sub("users/"+u+"/mailFolders/inbox/messages", "created", hook.URL())
	s["lifecycleNotificationUrl"] = life.URL()
	id := b.mustSubscribe(t, tok, s)
	ctl := func(method, path string) (int, []byte) {
		req, _ := http.NewRequestWithContext(ctxT(t), method, b.srv.URL()+"/_emulator/"+path, nil)
		resp, err := b.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, out
	}
	st, out := ctl("GET", "subscriptions")
	var infos []SubscriptionInfo
	if err := json.Unmarshal(out, &infos); st != 200 || err != nil || len(infos) != 1 || infos[0].ID != id {
		t.Errorf("subscriptions: %d %s", st, out)
	}
	if st, out := ctl("POST", "subscriptions/"+id+"/lifecycle/missed"); st != 204 {
		t.Errorf("lifecycle: %d %s", st, out)
	}
	life.waitNotes(t, 1, nil)
	if st, _ := ctl("POST", "notifications/unreachable?url="+hook.srv.URL+"&unreachable=true"); st != 204 {
		t.Errorf("unreachable: %d", st)
	}
	before := time.Now()
	_ = b.srv.InjectRaw(u, "inbox", []byte(`{"id":"via-control"}`))
	waitFor(t, "failed post", func() bool { return b.srv.NotificationCounters().PostsFailed > 0 })
	if len(hook.notes()) != 0 {
		t.Errorf("unreachable endpoint received %v", hook.notes())
	}
	ctl("POST", "notifications/unreachable?url="+hook.srv.URL+"&unreachable=false")
	hook.waitNotes(t, 1, nil) // a retry gets through
	st, out = ctl("GET", "last-change")
	var lc struct{ At time.Time }
	if err := json.Unmarshal(out, &lc); st != 200 || err != nil || lc.At.Before(before.Add(-time.Millisecond)) {
		t.Errorf("last-change: %d %s", st, out)
	}
	st, out = ctl("GET", "notifications")
	var log []NotificationRecord
	if err := json.Unmarshal(out, &log); st != 200 || err != nil || len(log) != 2 {
		t.Errorf("notifications: %d %s", st, out)
	}
	for _, r := range log {
		if r.ChangeType == "created" && (r.ResourceID != "via-control" || r.ChangedAt.Before(before.Add(-time.Millisecond)) || r.DeliveredAt.Before(r.ChangedAt) || r.Attempts < 2) {
			t.Errorf("record %+v", r)
		}
	}
	st, out = ctl("GET", "notifications/counters")
	var c NotificationCounters
	if err := json.Unmarshal(out, &c); st != 200 || err != nil || c.Delivered != 1 || c.Lifecycle["missed"] != 1 {
		t.Errorf("counters: %d %s", st, out)
	}
	if st, _ := ctl("POST", "subscriptions/"+id+"/expire"); st != 204 {
		t.Errorf("expire: %d", st)
	}
	if st, _ := ctl("POST", "subscriptions/"+id+"/expire"); st != 404 {
		t.Errorf("expire again: %d", st)
	}
	if st, _ := ctl("DELETE", "notifications/counters"); st != 204 || b.srv.NotificationCounters().Delivered != 0 {
		t.Errorf("reset counters: %d", st)
	}
}

// StartMutations' changes are notified like Mutate's, and ChangedAt is the
// time the change was applied.
func TestChangeNotificationsStartMutations(t *testing.T) {
	t.Parallel()
	cfg := notifyCfg()
	cfg.Users = 1
	b := setup(t, cfg)
	u := b.srv.Users()[0].ID
	hook := newReceiver(t)
	b.mustSubscribe(t, b.appToken(t), sub("users/"+u+"/messages", "created,updated,deleted", hook.URL()))
	start := time.Now()
	b.srv.StartMutations(200)
	hook.waitNotes(t, 3, nil)
	b.srv.StopMutations()
	for _, r := range b.srv.NotificationLog() {
		if r.ChangedAt.Before(start) || r.ChangedAt.After(r.QueuedAt) || (r.State == "delivered" && r.DeliveredAt.Before(r.QueuedAt)) {
			t.Errorf("record times %+v", r)
		}
	}
	if last := b.srv.LastChangeAt(); last.Before(start) || last.After(time.Now()) {
		t.Errorf("LastChangeAt %v", last)
	}
}

// Deleting a contact folder deletes its contacts, which a contacts
// subscription reports; a users/{id} subscription sees only that user.
func TestChangeNotificationsContactFolderAndOneUser(t *testing.T) {
	t.Parallel()
	cfg := notifyCfg()
	cfg.Users = 3
	b := setup(t, cfg)
	tok := b.appToken(t)
	users := b.srv.Users()
	u := users[0].ID
	contacts, one := newReceiver(t), newReceiver(t)
	b.mustSubscribe(t, tok, sub("users/"+u+"/contacts", "deleted", contacts.URL()))
	b.mustSubscribe(t, tok, sub("users/"+users[1].ID, "updated", one.URL()))
	em := b.srv.Emulator
	// Delete a child contact folder holding contacts, as mutateContactFolders does.
	em.mu.Lock()
	rec := em.lookupUser(u)
	var gone []string
	for _, f := range rec.contactFolders.live() {
		if live := rec.contacts[f.id].live(); len(live) > 0 {
			for _, e := range live {
				gone = append(gone, e.id)
			}
			rec.contactFolders.remove(em.nextVersion(), f)
			delete(rec.contacts, f.id)
			break
		}
	}
	em.mu.Unlock()
	if len(gone) == 0 {
		t.Fatal("no contact folder with contacts")
	}
	got := contacts.waitNotes(t, len(gone), nil)
	for _, m := range got {
		if id := resourceData(t, m)["id"]; m["changeType"] != "deleted" || !slices.Contains(gone, fmt.Sprint(id)) {
			t.Errorf("contact folder deletion: %v", m)
		}
	}
	b.srv.RemoveUser(users[2].ID)
	b.srv.RemoveUser(users[1].ID)
	n := one.waitNotes(t, 1, nil)
	waitScanned(t, em)
	waitDelivered(t, em)
	if n = one.notes(); len(n) != 1 || n[0]["resource"] != "Users/"+users[1].ID {
		t.Errorf("users/{id} subscription got %v", n)
	}
}
