package jobs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/verify"
	"github.com/graphsync/graphsync/internal/worker"
	"github.com/graphsync/graphsync/jobs"
	"github.com/graphsync/graphsync/notify"
	"github.com/graphsync/graphsync/server"
	"github.com/graphsync/graphsync/store"
)

// notified is a bundle whose worker subscribes to change notifications and
// serves the notification endpoint on a loopback listener.
type notified struct {
	*bundle
	// url is the endpoint's base URL, as Graph is told.
	url string
}

// setupNotified is setup with change notifications on: the emulator's
// notification service runs its waits 10,000 times faster (unless the test
// says otherwise) and batches for 5 ms.
func setupNotified(t *testing.T, o options) *notified {
	t.Helper()
	ln, err := server.ListenNotifications("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()

	n := &o.emu.Notifications
	if n.Scale == 0 {
		n.Scale = 0.0001
	}
	n.BatchWindow, n.DeliveryTimeout, n.RetryTimeout = 5*time.Millisecond, 2*time.Second, 2*time.Second
	tune := o.worker
	o.worker = func(c *worker.Config) {
		c.NotifyURL = url
		if tune != nil {
			tune(c)
		}
	}
	b := setup(t, o)
	srv := server.StartNotifications(ln, b.w.Receiver(b.client), nil)
	t.Cleanup(func() { _ = srv.Close() })
	return &notified{bundle: b, url: url}
}

// reconcile runs one round of the subscription manager.
func (b *notified) reconcile(t *testing.T) {
	t.Helper()
	if _, err := b.w.Notify.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// subscriptions lists graphsync's subscriptions by connection, user and
// resource.
func (b *notified) subscriptions(t *testing.T) map[string]*store.Subscription {
	t.Helper()
	subs, err := b.store.Subscriptions(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*store.Subscription{}
	for _, s := range subs {
		out[graphsync.Stream{Connection: s.Connection, User: s.User, Resource: s.Resource}.String()] = s
	}
	return out
}

// graphSubscription returns the emulator's view of a subscription.
func (b *notified) graphSubscription(t *testing.T, id string) (emulator.SubscriptionInfo, bool) {
	t.Helper()
	for _, s := range b.em.Subscriptions() {
		if s.ID == id {
			return s, true
		}
	}
	return emulator.SubscriptionInfo{}, false
}

// matches reports whether every connection's rows of the resources equal
// the emulator's ground truth, and the first difference.
func (b *notified) matches(t *testing.T, resources ...string) (bool, string) {
	t.Helper()
	for _, c := range b.conns {
		for _, r := range resources {
			results, err := verify.Resource(context.Background(), b.store.Pool(), b.em.URL(), c.ID, c.UserID, r)
			if err != nil {
				t.Fatal(err)
			}
			for _, res := range results {
				if len(res.Diffs) > 0 {
					return false, c.UserID + " " + r + ": " + res.Diffs[0]
				}
			}
		}
	}
	return true, ""
}

// waitMatches waits, without queueing any sync itself, until the rows equal
// the ground truth: only notifications can bring them there.
func (b *notified) waitMatches(t *testing.T, timeout time.Duration, resources ...string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, diff := b.matches(t, resources...)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("rows differ from the truth %s after the changes: %s", timeout, diff)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// mutateUntil applies mutations until one touches a subscribed resource of a
// connected user (the ground truth of the resource changes).
func (b *notified) mutateUntil(t *testing.T, resource string) {
	t.Helper()
	before := b.truth(t, resource)
	for range 200 {
		b.em.Mutate(3)
		if b.truth(t, resource) != before {
			return
		}
		if ok, _ := b.matches(t, resource); !ok {
			return
		}
	}
	t.Fatalf("no %s change in 600 mutations", resource)
}

// mutateUnseen applies mutations until the rows of a resource differ from
// the truth: for tests where Graph cannot deliver the notifications.
func (b *notified) mutateUnseen(t *testing.T, resource string) {
	t.Helper()
	for range 200 {
		b.em.Mutate(3)
		if ok, _ := b.matches(t, resource); !ok {
			return
		}
	}
	t.Fatalf("no %s change in 600 mutations", resource)
}

// truthSize is the emulator's ground truth of a resource, concatenated.
func (b *notified) truth(t *testing.T, resource string) string {
	t.Helper()
	truth := map[string]string{"mail": "messages", "calendar": "events", "contacts": "contacts", "drive": "driveItems"}[resource]
	var sb strings.Builder
	for _, c := range b.conns {
		items, err := b.em.Truth(c.UserID, truth)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			sb.Write(it)
		}
	}
	return sb.String()
}

// metric reads a counter's or histogram's sample count of the default
// registry with the given label value (any when label is empty).
func metric(t *testing.T, name, label, value string) float64 {
	t.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := label == ""
			for _, l := range m.GetLabel() {
				match = match || l.GetName() == label && l.GetValue() == value
			}
			if !match {
				continue
			}
			if h := m.GetHistogram(); h != nil {
				sum += float64(h.GetSampleCount())
			} else {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// Subscriptions are created through the validation handshake, one per
// connection and notifiable resource, with their clientState sealed; after
// that, changes reach the rows through notifications alone (no sync is
// queued by the test or a scheduler), and a resource Graph cannot notify
// about keeps its poll interval while subscribed ones stretch to the long
// one.
func TestNotificationsDriveSyncs(t *testing.T) {
	t.Parallel()
	resources := []string{"mail", "contacts", "drive", "people"}
	b := setupNotified(t, options{resources: resources, emu: emulator.Config{Users: 2, MessagesPerUser: 20,
		ContactsPerUser: 5, DriveItemsPerUser: 8, PeoplePerUser: 3}})
	b.syncNow(t, 60*time.Second)
	b.reconcile(t)

	subs := b.subscriptions(t)
	if want := len(b.conns) * 3; len(subs) != want {
		t.Fatalf("%d subscriptions, want %d (mail, contacts, drive per user): %v", len(subs), want, subs)
	}
	for key, s := range subs {
		g, ok := b.graphSubscription(t, s.GraphID)
		switch {
		case s.Status != store.SubscriptionActive:
			t.Errorf("%s: status %s (%s)", key, s.Status, s.LastError)
		case !ok:
			t.Errorf("%s: Graph has no subscription %s", key, s.GraphID)
		case g.NotificationURL != b.url+notify.NotificationsPath || g.LifecycleNotificationURL != b.url+notify.LifecyclePath:
			t.Errorf("%s: URLs %s %s", key, g.NotificationURL, g.LifecycleNotificationURL)
		case len(g.ClientState) < 32:
			t.Errorf("%s: clientState %q is not a random secret", key, g.ClientState)
		case s.ExpiresAt == nil || !g.ExpirationDateTime.Equal(*s.ExpiresAt) || s.RenewAt == nil || !s.RenewAt.Before(*s.ExpiresAt):
			t.Errorf("%s: expires %v renews %v; Graph says %v", key, s.ExpiresAt, s.RenewAt, g.ExpirationDateTime)
		}
		if s.Resource == graphsync.Drive && g.ChangeType != "updated" {
			t.Errorf("drive changeType %s, want updated (the only one driveItem supports)", g.ChangeType)
		}
	}
	c := b.em.NotificationCounters()
	if c.Validations < int64(2*len(subs)) || c.ValidationsFailed != 0 {
		t.Errorf("validations %d (failed %d), want the handshake on both URLs of %d subscriptions", c.Validations, c.ValidationsFailed, len(subs))
	}
	var sealed int
	if err := b.store.Pool().QueryRow(context.Background(),
		"SELECT count(*) FROM subscriptions WHERE client_state_enc IS NOT NULL AND position(convert_to($1, 'UTF8') in client_state_enc) = 0",
		b.em.Subscriptions()[0].ClientState).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if sealed != len(subs) {
		t.Errorf("%d of %d clientStates sealed", sealed, len(subs))
	}

	// The safety net: subscribed streams are not due within the long
	// interval, people (no notifications) is.
	due, err := b.store.DueSyncs(context.Background(), time.Nanosecond, time.Hour, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range due {
		if s.Resource != graphsync.People {
			t.Errorf("%s is due for polling although subscribed", s)
		}
	}
	if len(due) != len(b.conns) {
		t.Errorf("%d streams due, want people of each of %d connections", len(due), len(b.conns))
	}

	latency := metric(t, "graphsync_notification_to_commit_seconds", "", "")
	for _, r := range []string{"mail", "contacts", "drive"} {
		b.mutateUntil(t, r)
	}
	b.waitMatches(t, 30*time.Second, "mail", "contacts", "drive")
	if metric(t, "graphsync_notification_to_commit_seconds", "", "") == latency {
		t.Error("no notified sync observed its latency")
	}
	for _, s := range b.subscriptions(t) {
		if s.Notifications == 0 && s.Resource == graphsync.Mail {
			t.Errorf("mail subscription %s counted no notification", s.GraphID)
		}
	}
}

// A subscription is renewed halfway to its expiry: the same Graph
// subscription lives on past its first expiry, and changes keep arriving.
func TestSubscriptionRenewedBeforeExpiry(t *testing.T) {
	t.Parallel()
	// Days pass: access tokens expire and Graph asks for reauthorization,
	// pausing delivery an hour later (3.6 s here) unless the worker renews.
	b := setupNotified(t, options{emu: emulator.Config{Users: 1, MessagesPerUser: 10,
		Notifications: emulator.Notifications{Scale: 0.001}}})
	b.syncNow(t, 30*time.Second)
	b.reconcile(t)
	first := b.subscriptions(t)
	if len(first) != 1 {
		t.Fatalf("subscriptions %v", first)
	}
	var sub *store.Subscription
	for _, s := range first {
		sub = s
	}
	exp := *sub.ExpiresAt
	// Not due before renew_at.
	b.reconcile(t)
	if again := b.subscriptions(t); !again[keyOf(sub)].ExpiresAt.Equal(exp) {
		t.Fatal("renewed before it was due")
	}
	// Halfway to expiry, plus a minute: due.
	ahead := time.Until(*sub.RenewAt) + time.Minute
	// The worker's clock (the engine's, which the manager follows) moves
	// with the emulator's.
	b.em.Advance(ahead)
	b.skew.Store(int64(ahead))
	renewed := metric(t, "graphsync_subscription_renewals_total", "outcome", "renewed")
	b.reconcile(t)
	now := b.subscriptions(t)[keyOf(sub)]
	if now.GraphID != sub.GraphID || !now.ExpiresAt.After(exp) || now.Status != store.SubscriptionActive {
		t.Fatalf("after renewal: id %s (was %s), expires %v (was %v), status %s %s", now.GraphID, sub.GraphID, now.ExpiresAt, exp, now.Status, now.LastError)
	}
	if metric(t, "graphsync_subscription_renewals_total", "outcome", "renewed") <= renewed {
		t.Error("renewal not counted")
	}
	// Past the first expiry: the subscription is still Graph's.
	past := time.Until(exp) + time.Minute - ahead
	b.em.Advance(past)
	b.skew.Add(int64(past))
	if _, ok := b.graphSubscription(t, sub.GraphID); !ok {
		t.Fatal("subscription expired although renewed")
	}
	// Graph asks for reauthorization (the tokens of a week ago expired):
	// the worker renews at once, and changes flow.
	waitUntil(t, "the reauthorization", func() bool {
		g, ok := b.graphSubscription(t, sub.GraphID)
		return ok && !g.Paused && g.ExpirationDateTime.After(*now.ExpiresAt)
	})
	b.mutateUntil(t, "mail")
	b.waitMatches(t, 30*time.Second, "mail")
}

// only returns the one subscription of a single-mailbox, single-resource
// test.
func (b *notified) only(t *testing.T) *store.Subscription {
	t.Helper()
	subs := b.subscriptions(t)
	if len(subs) != 1 {
		t.Fatalf("%d subscriptions, want 1: %v", len(subs), subs)
	}
	for _, s := range subs {
		return s
	}
	return nil
}

func keyOf(s *store.Subscription) string {
	return graphsync.Stream{Connection: s.Connection, User: s.User, Resource: s.Resource}.String()
}

// A subscription Graph removes (subscriptionRemoved) is created again by the
// subscriptions job the lifecycle notification queues, and the stream is
// synced: the changes made while it was gone are not lost.
func TestRemovedSubscriptionRecreatedAndResynced(t *testing.T) {
	t.Parallel()
	b := setupNotified(t, options{emu: emulator.Config{Users: 1, MessagesPerUser: 15}})
	b.syncNow(t, 30*time.Second)
	b.reconcile(t)
	old := b.only(t)
	// Changes Graph will never notify about: the endpoint is unreachable
	// until the retry window (4 hours, scaled) gives up on them.
	b.em.SetUnreachable(b.url, true)
	b.mutateUnseen(t, "mail")
	b.waitGivenUp(t)
	b.em.SetUnreachable(b.url, false)
	removed := metric(t, "graphsync_notifications_total", "outcome", "lifecycle_subscriptionRemoved")
	if err := b.em.RemoveSubscription(old.GraphID); err != nil {
		t.Fatal(err)
	}
	// The receiver queues the sync and the subscriptions job; River runs
	// both.
	b.waitMatches(t, 30*time.Second, "mail")
	waitUntil(t, "a new subscription", func() bool {
		s := b.subscriptions(t)[keyOf(old)]
		return s != nil && s.Status == store.SubscriptionActive && s.GraphID != "" && s.GraphID != old.GraphID
	})
	if metric(t, "graphsync_notifications_total", "outcome", "lifecycle_subscriptionRemoved") <= removed {
		t.Error("lifecycle event not counted")
	}
	// The new subscription delivers.
	b.mutateUntil(t, "mail")
	b.waitMatches(t, 30*time.Second, "mail")
}

// Change notifications that cannot be delivered are given up after Graph's
// retry window, and Graph then sends a missed lifecycle event: the stream
// is resynced with delta, and nothing is lost.
func TestMissedLifecycleResyncs(t *testing.T) {
	t.Parallel()
	b := setupNotified(t, options{resources: []string{"mail", "calendar"},
		emu: emulator.Config{Users: 1, MessagesPerUser: 15, EventsPerUser: 10}})
	b.syncNow(t, 30*time.Second)
	b.reconcile(t)
	missed := metric(t, "graphsync_notifications_total", "outcome", "lifecycle_missed")
	b.em.SetUnreachable(b.url+notify.NotificationsPath, true)
	b.mutateUnseen(t, "mail")
	waitUntil(t, "the emulator to give up and send missed", func() bool {
		c := b.em.NotificationCounters()
		return c.Failed > 0 && c.Lifecycle["missed"] > 0 && c.LifecycleDelivered > 0
	})
	b.em.SetUnreachable(b.url+notify.NotificationsPath, false)
	b.waitMatches(t, 30*time.Second, "mail", "calendar")
	if metric(t, "graphsync_notifications_total", "outcome", "lifecycle_missed") <= missed {
		t.Error("missed event not counted")
	}
	if c := b.em.NotificationCounters(); c.Delivered != 0 {
		t.Errorf("%d change notifications delivered; the test wants none", c.Delivered)
	}
}

// reauthorizationRequired renews the subscription at once (through the
// subscriptions job the receiver queues), so delivery never pauses.
func TestReauthorizationRenews(t *testing.T) {
	t.Parallel()
	b := setupNotified(t, options{emu: emulator.Config{Users: 1, MessagesPerUser: 10}})
	b.syncNow(t, 30*time.Second)
	b.reconcile(t)
	sub := b.only(t)
	renewed := metric(t, "graphsync_subscription_renewals_total", "outcome", "renewed")
	if err := b.em.SendLifecycle(sub.GraphID, "reauthorizationRequired"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the renewal", func() bool {
		return metric(t, "graphsync_subscription_renewals_total", "outcome", "renewed") > renewed
	})
	if g, ok := b.graphSubscription(t, sub.GraphID); !ok || g.Paused {
		t.Fatalf("subscription after reauthorization: %+v present %v", g, ok)
	}
	b.mutateUntil(t, "mail")
	b.waitMatches(t, 30*time.Second, "mail")
}

// A forged notification (a real subscription id, a wrong clientState)
// changes nothing and is counted; so is one for an unknown subscription.
// A burst of genuine ones for one mailbox queues one sync.
//
// Not parallel: it counts process-wide metrics exactly.
func TestForgedNotificationsIgnoredAndBurstsDeduplicated(t *testing.T) {
	b := setupNotified(t, options{noWorkers: true, emu: emulator.Config{Users: 1, MessagesPerUser: 10}})
	b.reconcile(t)
	sub := b.only(t)
	g, ok := b.graphSubscription(t, sub.GraphID)
	if !ok {
		t.Fatal("no subscription at Graph")
	}
	post := func(path string, notes ...map[string]any) int {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"value": notes})
		start := time.Now()
		res, err := http.Post(b.url+path, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("answered in %s; Graph waits 3 s", d)
		}
		return res.StatusCode
	}
	note := func(state string) map[string]any {
		return map[string]any{"subscriptionId": sub.GraphID, "clientState": state, "changeType": "created",
			"resource": sub.GraphResource + "/forged", "tenantId": b.conns[0].TenantID}
	}
	syncJobs := func() int {
		res, err := b.client.JobList(context.Background(), river.NewJobListParams().Kinds(jobs.SyncArgs{}.Kind()).
			States(rivertype.JobStateAvailable).First(100))
		if err != nil {
			t.Fatal(err)
		}
		return len(res.Jobs)
	}

	rejected, unknown := metric(t, "graphsync_notifications_total", "outcome", "rejected"), metric(t, "graphsync_notifications_total", "outcome", "unknown")
	if s := post(notify.NotificationsPath, note(g.ClientState+"x"), note(""), note(strings.ToUpper(g.ClientState))); s != http.StatusAccepted {
		t.Errorf("forged batch answered %d, want 202", s)
	}
	forgedUnknown := note(g.ClientState)
	forgedUnknown["subscriptionId"] = "00000000-0000-0000-0000-000000000000"
	post(notify.NotificationsPath, forgedUnknown)
	post(notify.LifecyclePath, map[string]any{"subscriptionId": sub.GraphID, "clientState": "guess", "lifecycleEvent": "subscriptionRemoved"})
	if got := metric(t, "graphsync_notifications_total", "outcome", "rejected") - rejected; got != 4 {
		t.Errorf("rejected %v notifications, want 4", got)
	}
	if got := metric(t, "graphsync_notifications_total", "outcome", "unknown") - unknown; got != 1 {
		t.Errorf("unknown %v notifications, want 1", got)
	}
	if n := syncJobs(); n != 0 {
		t.Fatalf("forged notifications queued %d syncs", n)
	}
	if after := b.subscriptions(t)[keyOf(sub)]; after.GraphID != sub.GraphID || after.Notifications != sub.Notifications {
		t.Fatalf("forged lifecycle event changed the subscription: %+v", after)
	}

	// The handshake: the token echoed as text/plain.
	res, err := http.Post(b.url+notify.NotificationsPath+"?validationToken=Validation%3A+Testing+client+application", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	var echoed bytes.Buffer
	_, _ = echoed.ReadFrom(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || echoed.String() != "Validation: Testing client application" ||
		!strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("handshake: %d %q %s", res.StatusCode, echoed.String(), res.Header.Get("Content-Type"))
	}

	// 1,000 genuine notifications in ten POSTs: one job.
	dup := metric(t, "graphsync_notifications_total", "outcome", "duplicate")
	for range 10 {
		batch := make([]map[string]any, 100)
		for i := range batch {
			batch[i] = note(g.ClientState)
		}
		if s := post(notify.NotificationsPath, batch...); s != http.StatusAccepted {
			t.Fatalf("answered %d", s)
		}
	}
	if n := syncJobs(); n != 1 {
		t.Errorf("1,000 notifications queued %d syncs, want 1", n)
	}
	if got := metric(t, "graphsync_notifications_total", "outcome", "duplicate") - dup; got != 990 {
		t.Errorf("%v duplicates counted, want 990", got)
	}
	if after := b.subscriptions(t)[keyOf(sub)]; after.Notifications != sub.Notifications+1000 {
		t.Errorf("subscription counted %d notifications, want %d", after.Notifications, sub.Notifications+1000)
	}
	// Malformed bodies are refused without harm.
	res, err = http.Post(b.url+notify.NotificationsPath, "application/json", strings.NewReader("{not json"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("malformed body answered %d", res.StatusCode)
	}
}

// A mailbox at Graph's limit of subscriptions (across apps) gets a clear
// per-subscription state, retried an hour later rather than in a loop,
// while its other resources subscribe.
func TestSubscriptionLimitIsAStateNotALoop(t *testing.T) {
	t.Parallel()
	// The mailbox has two places left: other apps hold the rest.
	b := setupNotified(t, options{noWorkers: true, resources: []string{"mail", "calendar", "contacts"},
		emu: emulator.Config{Users: 1, MessagesPerUser: 5, EventsPerUser: 5, ContactsPerUser: 5,
			Notifications: emulator.Notifications{MailboxLimit: 2}}})
	b.reconcile(t)
	var active, limited int
	for _, s := range b.subscriptions(t) {
		switch s.Status {
		case store.SubscriptionActive:
			active++
		case store.SubscriptionLimitReached:
			limited++
			if s.RenewAt == nil || time.Until(*s.RenewAt) < 50*time.Minute || !strings.Contains(s.LastError, "limit") {
				t.Errorf("limited subscription retries at %v: %s", s.RenewAt, s.LastError)
			}
		default:
			t.Errorf("%s: status %s", keyOf(s), s.Status)
		}
	}
	if active != 2 || limited != 1 {
		t.Fatalf("active %d, limit_reached %d; want 2 and 1", active, limited)
	}
	// Not retried at once.
	before := b.em.NotificationCounters().Validations
	b.reconcile(t)
	if b.em.NotificationCounters().Validations != before {
		t.Error("the limited subscription was retried at once")
	}
}

// waitGivenUp waits until the emulator gave up delivering the change
// notifications it could not (after Graph's retry window, scaled).
func (b *notified) waitGivenUp(t *testing.T) {
	t.Helper()
	waitUntil(t, "the emulator to give up", func() bool {
		c := b.em.NotificationCounters()
		return c.Failed+c.Dropped > 0 && c.Notifications == c.Delivered+c.Failed+c.Dropped
	})
}

// waitUntil polls cond for up to 30 seconds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// When Graph cannot reach the endpoint, the safety-net poll finds the
// changes no notification announced, and counts them: the signal of the
// alert for an unreachable endpoint. While notifications flow, a poll finds
// nothing to count.
//
// Not parallel: it counts a process-wide metric exactly.
func TestUnreachableEndpointCountsUnnotifiedChanges(t *testing.T) {
	b := setupNotified(t, options{emu: emulator.Config{Users: 1, MessagesPerUser: 15}})
	b.syncNow(t, 30*time.Second)
	b.reconcile(t)
	unnotified := func() float64 { return metric(t, "graphsync_unnotified_changes_total", "resource", "mail") }
	before := unnotified()
	b.mutateUntil(t, "mail")
	b.waitMatches(t, 30*time.Second, "mail")
	b.syncNow(t, 30*time.Second)
	if got := unnotified(); got != before {
		t.Fatalf("a poll after notified changes counted %v unnotified ones", got-before)
	}

	b.em.SetUnreachable(b.url, true)
	b.mutateUnseen(t, "mail")
	b.waitGivenUp(t)
	b.syncNow(t, 30*time.Second)
	b.assertMailMatchesTruth(t)
	if got := unnotified(); got != before+1 {
		t.Errorf("unnotified changes counted %v, want 1", got-before)
	}
}

// recordingQueue is a notify.Queue that counts what it is asked.
type recordingQueue struct{ syncs, reconciles atomic.Int32 }

func (q *recordingQueue) Sync(context.Context, int64, string, *graphsync.Resource, time.Time) error {
	q.syncs.Add(1)
	return nil
}

func (q *recordingQueue) Reconcile(context.Context) error {
	q.reconciles.Add(1)
	return nil
}

// Key rotation re-seals the subscriptions' clientState with the new key;
// a subscription whose secret no key the workers hold opens any more is
// created anew (Graph answers 409 for the old one, which is deleted), and
// its notifications are not trusted meanwhile.
func TestSubscriptionSecretsFollowKeyRotation(t *testing.T) {
	t.Parallel()
	oldKey, _ := store.GenerateKey()
	newKey, _ := store.GenerateKey()
	otherKey, _ := store.GenerateKey()
	both := keyring(t, newKey+","+oldKey)
	// Connected under the old key; the workers run with the new key first
	// and the old one second, as the rotation procedure says.
	b := setupNotified(t, options{noWorkers: true, keys: keyring(t, oldKey), emu: emulator.Config{Users: 1, MessagesPerUser: 5},
		worker: func(c *worker.Config) { c.Store = c.Store.WithKeys(both) }})
	// Subscribed by a worker that had only the old key.
	before, err := notify.NewManager(notify.Config{Store: store.New(b.store.Pool(), keyring(t, oldKey)), Graph: b.graph,
		Tokens: b.w.Tokens, URL: b.url})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := before.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	sub := b.only(t)
	g, _ := b.graphSubscription(t, sub.GraphID)
	ctx := context.Background()
	if n, err := b.store.RotateKeys(ctx); err != nil || n < 1 {
		t.Fatalf("rotated %d rows (err %v), want at least the subscription's", n, err)
	}
	newOnly := store.New(b.store.Pool(), keyring(t, newKey))
	if _, state, err := newOnly.SubscriptionByGraphID(ctx, sub.GraphID); err != nil || state != g.ClientState {
		t.Fatalf("after rotation, the new key alone opens %q (err %v), want Graph's clientState", state, err)
	}

	// Workers that hold neither key: the notification is not trusted, and
	// the subscription is to be created anew.
	q := &recordingQueue{}
	rc := notify.NewReceiver(store.New(b.store.Pool(), keyring(t, otherKey)), q, nil)
	body, _ := json.Marshal(map[string]any{"value": []map[string]any{{"subscriptionId": sub.GraphID, "clientState": g.ClientState}}})
	rec := httptest.NewRecorder()
	rc.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, notify.NotificationsPath, bytes.NewReader(body)))
	if rec.Code != http.StatusAccepted || q.syncs.Load() != 0 || q.reconciles.Load() != 1 {
		t.Fatalf("answered %d, queued %d syncs and %d reconciles; want 202, 0, 1", rec.Code, q.syncs.Load(), q.reconciles.Load())
	}
	if s := b.subscriptions(t)[keyOf(sub)]; s.GraphID != "" || s.Status != store.SubscriptionPending {
		t.Fatalf("subscription not marked for recreation: %+v", s)
	}
	b.reconcile(t)
	s := b.subscriptions(t)[keyOf(sub)]
	if s.Status != store.SubscriptionActive || s.GraphID == "" || s.GraphID == sub.GraphID {
		t.Fatalf("not created anew: %+v", s)
	}
	if _, ok := b.graphSubscription(t, sub.GraphID); ok {
		t.Error("the old subscription is still Graph's")
	}
	if n := len(b.em.Subscriptions()); n != 1 {
		t.Errorf("Graph holds %d subscriptions, want 1", n)
	}
}
