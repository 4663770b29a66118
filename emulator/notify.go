package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// notifier finds data changes that match active subscriptions and delivers
// change and lifecycle notifications. Lock order: scanMu, em.mu, mu, verMu.
type notifier struct {
	once sync.Once
	em   *Emulator
	cfg  Notifications

	active     atomic.Bool  // a subscription was registered: track changes
	lastChange atomic.Int64 // unix nanoseconds of the latest data change

	mu      sync.Mutex
	subs    map[string]*subscription
	queues  map[string]*urlQueue
	eps     map[string]*endpoint
	down    []string // unreachable URL prefixes
	cnt     NotificationCounters
	log     []*NotificationRecord // ring of the latest records
	logNext int
	started bool
	closed  bool

	verMu    sync.Mutex
	verTimes []verTime // when each version since the last scan was made

	scanMu      sync.Mutex
	lastVer     uint64
	chatSnap    map[*chat][]msgSnap
	contactCols map[*userRec]map[*collection]bool

	kick   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	client *http.Client
}

type verTime struct {
	ver uint64
	at  time.Time
}

// msgSnap is what a scan last saw of a chat message (chat messages are
// appended and never removed, so a snapshot is aligned with chat.msgs).
type msgSnap struct {
	modified time.Time
	deleted  bool
}

// NotificationCounters counts what the notification service did. Change
// notifications and lifecycle notifications are counted apart.
type NotificationCounters struct {
	// Subscriptions is the number active now; Created, Deleted (by the
	// app), Removed (RemoveSubscription) and Expired count events.
	Subscriptions int   `json:"subscriptions"`
	Created       int64 `json:"created"`
	Deleted       int64 `json:"deleted"`
	Removed       int64 `json:"removed"`
	Expired       int64 `json:"expired"`
	// Validations counts validation requests sent; ValidationsFailed those
	// that did not pass.
	Validations       int64 `json:"validations"`
	ValidationsFailed int64 `json:"validationsFailed"`
	// Notifications counts change notifications queued; Delivered those in a
	// POST answered 2xx in time; Retried the re-sends after a failed POST;
	// Failed those given up after the retry window; Dropped those not sent
	// (subscription deleted, expired or paused, or endpoint throttled to
	// dropping).
	Notifications int64 `json:"notifications"`
	Delivered     int64 `json:"delivered"`
	Retried       int64 `json:"retried"`
	Failed        int64 `json:"failed"`
	Dropped       int64 `json:"dropped"`
	// Posts counts notification POSTs (change and lifecycle), PostsFailed
	// those not answered 2xx in time, SlowPosts those slower than the slow
	// threshold (29/30 of DeliveryTimeout: 2,900 ms of 3 s).
	Posts       int64 `json:"posts"`
	PostsFailed int64 `json:"postsFailed"`
	SlowPosts   int64 `json:"slowPosts"`
	// Lifecycle counts lifecycle notifications queued per lifecycleEvent;
	// LifecycleDelivered and LifecycleFailed their outcomes.
	Lifecycle          map[string]int64 `json:"lifecycle"`
	LifecycleDelivered int64            `json:"lifecycleDelivered"`
	LifecycleFailed    int64            `json:"lifecycleFailed"`
}

// NotificationRecord is one change or lifecycle notification as the
// emulator handled it. ChangedAt is when the data change was applied, so
// a test can measure change-to-row latency.
type NotificationRecord struct {
	SubscriptionID string    `json:"subscriptionId"`
	URL            string    `json:"url"`
	ChangeType     string    `json:"changeType,omitempty"`
	LifecycleEvent string    `json:"lifecycleEvent,omitempty"`
	Resource       string    `json:"resource,omitempty"`
	ResourceID     string    `json:"resourceId,omitempty"`
	ChangedAt      time.Time `json:"changedAt"`
	QueuedAt       time.Time `json:"queuedAt"`
	DeliveredAt    time.Time `json:"deliveredAt"`
	Attempts       int       `json:"attempts"`
	// State is queued, delivered, failed (given up after the retry window)
	// or dropped.
	State string `json:"state"`
}

const (
	logSize       = 10000
	postsPerURL   = 8 // concurrent POSTs per notification URL
	janitorPeriod = 50 * time.Millisecond
)

func (em *Emulator) notifier() *notifier {
	n := &em.ntf
	n.once.Do(func() { n.init(em) })
	return n
}

func (n *notifier) init(em *Emulator) {
	n.em = em
	n.cfg = em.cfg.Notifications.withDefaults()
	n.subs = map[string]*subscription{}
	n.queues = map[string]*urlQueue{}
	n.eps = map[string]*endpoint{}
	n.cnt.Lifecycle = map[string]int64{}
	n.chatSnap = map[*chat][]msgSnap{}
	n.contactCols = map[*userRec]map[*collection]bool{}
	n.kick = make(chan struct{}, 1)
	n.ctx, n.cancel = context.WithCancel(context.Background())
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	if !n.cfg.AllowRemote {
		// Refuse at dial time too: a name may resolve anywhere.
		dialer.Control = func(_, address string, _ syscall.RawConn) error {
			host, _, _ := net.SplitHostPort(address)
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				return fmt.Errorf("emulator: refusing to send notifications to non-loopback address %s", address)
			}
			return nil
		}
	}
	n.client = &http.Client{
		// No proxy from the environment: notifications go straight to the URL.
		Transport: &http.Transport{DialContext: dialer.DialContext, MaxIdleConnsPerHost: postsPerURL, IdleConnTimeout: 30 * time.Second},
		// A redirect is not a 2xx: never follow one.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// changed records a data change for change notifications: ver is the new
// version, or 0 for an unversioned change (chat messages). Called with
// em.mu held for writing, so it must not block.
func (em *Emulator) changed(ver uint64) {
	n := &em.ntf
	now := em.now()
	n.lastChange.Store(now.UnixNano())
	if !n.active.Load() {
		return
	}
	if ver != 0 {
		n.verMu.Lock()
		n.verTimes = append(n.verTimes, verTime{ver, now})
		n.verMu.Unlock()
	}
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// LastChangeAt is when the latest data change (mutation, injected or added
// item, user removal) was applied, by the emulator's clock.
func (em *Emulator) LastChangeAt() time.Time {
	ns := em.ntf.lastChange.Load()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// startLocked starts the scanner and the janitor; called with mu held.
func (n *notifier) startLocked() {
	if n.started || n.closed {
		return
	}
	n.started = true
	n.active.Store(true)
	n.wg.Add(2)
	go func() {
		defer n.wg.Done()
		for {
			select {
			case <-n.ctx.Done():
				return
			case <-n.kick:
				n.scan()
			}
		}
	}()
	go func() {
		defer n.wg.Done()
		t := time.NewTicker(janitorPeriod)
		defer t.Stop()
		for {
			select {
			case <-n.ctx.Done():
				return
			case <-t.C:
				n.tick()
			}
		}
	}()
}

// closeNotifications stops scanning and delivery, abandoning what is in
// flight; Server.Close calls it.
func (em *Emulator) closeNotifications() {
	n := em.notifier()
	n.mu.Lock()
	n.closed = true
	for _, q := range n.queues {
		if q.timer != nil {
			q.timer.Stop()
		}
	}
	n.mu.Unlock()
	n.cancel()
	n.wg.Wait()
	n.client.CloseIdleConnections()
}

// admissible checks the documented limits before a subscription is
// validated and again when it is registered; status 0 means it may be.
func (n *notifier) admissible(s *subscription) (int, string, string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.admissibleLocked(s)
}

func (n *notifier) admissibleLocked(s *subscription) (int, string, string) {
	now := n.em.now()
	inMailbox := 0
	for _, o := range n.subs {
		if !o.exp.After(now) {
			continue
		}
		// subscription-post-subscriptions, "Duplicate subscription
		// behavior": same changeType and resource is 409 Conflict. The
		// emulator scopes it to one app, as the per-mailbox limit counts
		// subscriptions of many apps to one resource.
		if o.appID == s.appID && o.t.canon == s.t.canon && sameChanges(o.changes, s.changes) {
			return http.StatusConflict, "Conflict", fmt.Sprintf("Subscription Id %s already exists for the requested combination", o.id)
		}
		if s.mailbox != "" && o.mailbox == s.mailbox {
			inMailbox++
		}
	}
	// outlook-change-notifications-overview: at most 1,000 active
	// subscriptions per mailbox for all applications; over a quota Graph
	// answers 403 with a message naming the limit (change notifications
	// overview, "Supported resources").
	if s.mailbox != "" && inMailbox >= n.cfg.MailboxLimit {
		return http.StatusForbidden, "ExtensionError", fmt.Sprintf("Operation: Create; Exception: [Status Code: Forbidden; Reason: The mailbox has reached the limit of %d active subscriptions for all applications.]", n.cfg.MailboxLimit)
	}
	return 0, "", ""
}

func sameChanges(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// register adds a validated subscription. Changes made before it are
// scanned first, so it is notified only of later ones.
func (n *notifier) register(s *subscription) (int, string, string) {
	n.mu.Lock()
	n.startLocked()
	n.mu.Unlock()
	n.scanMu.Lock()
	defer n.scanMu.Unlock()
	n.scanLocked()
	n.mu.Lock()
	if status, code, msg := n.admissibleLocked(s); status != 0 {
		n.mu.Unlock()
		return status, code, msg
	}
	s.pauseAt = s.authExp.Add(n.cfg.scaled(time.Hour))
	n.subs[s.id] = s
	n.cnt.Created++
	n.mu.Unlock()
	// Snapshot what the subscription watches, as the baseline of its scans.
	em := n.em
	em.mu.RLock()
	for _, c := range n.watchedChats(s) {
		if _, ok := n.chatSnap[c]; !ok {
			n.chatSnap[c] = snapChat(c)
		}
	}
	if s.t.kind == tContacts && n.contactCols[s.t.user] == nil {
		n.contactCols[s.t.user] = contactSet(s.t.user)
	}
	em.mu.RUnlock()
	return 0, "", ""
}

// get returns a live subscription; an expired one is removed on the way.
func (n *notifier) get(id string) *subscription {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.subs[id]
	if s != nil && !s.exp.After(n.em.now()) {
		delete(n.subs, id)
		n.cnt.Expired++
		return nil
	}
	return s
}

// update renews and reauthorizes a subscription (PATCH, reauthorize).
func (n *notifier) update(s *subscription, exp time.Time, notifyURL string, authExp time.Time) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.subs[s.id] != s {
		return false
	}
	s.exp = exp
	if notifyURL != "" {
		s.notifyURL = notifyURL
	}
	s.authExp, s.pauseAt = authExp, authExp.Add(n.cfg.scaled(time.Hour))
	s.paused, s.lastChallenge, s.expiryWarned = false, time.Time{}, false
	return true
}

// remove deletes a subscription, by the app or (service) by the emulator;
// a non-empty event is sent to its lifecycle URL (subscriptionRemoved).
func (n *notifier) remove(id string, service bool, event string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.subs[id]
	if s == nil {
		return false
	}
	delete(n.subs, id)
	if !service {
		n.cnt.Deleted++
		return true
	}
	n.cnt.Removed++
	if event != "" && s.lifeURL != "" {
		n.queueLocked(n.lifecycleNote(s, s.exp, event))
	}
	return true
}

// RemoveSubscription deletes a subscription as the service does, sending
// subscriptionRemoved to its lifecycleNotificationUrl when it has one and
// its resource supports that event (Outlook resources and Teams chat
// messages, change-notifications-lifecycle-events).
func (em *Emulator) RemoveSubscription(id string) error {
	n := em.notifier()
	s := n.get(id)
	if s == nil {
		return errNoSubscription
	}
	event := "subscriptionRemoved"
	if !s.t.outlook && !s.t.teams {
		event = ""
	}
	if !n.remove(id, true, event) {
		return errNoSubscription
	}
	return nil
}

// ExpireSubscription makes a subscription expire now, as when its
// expirationDateTime passes: it is gone (GET answers 404), no lifecycle
// notification is sent and its pending notifications are dropped.
func (em *Emulator) ExpireSubscription(id string) error {
	n := em.notifier()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.subs[id] == nil {
		return errNoSubscription
	}
	delete(n.subs, id)
	n.cnt.Expired++
	return nil
}

// SendLifecycle sends a lifecycle notification to a subscription's
// lifecycleNotificationUrl: "missed" (Outlook resources only),
// "subscriptionRemoved" (Outlook resources and chat messages; the
// subscription is removed, as RemoveSubscription does) or
// "reauthorizationRequired" (any resource; delivery then pauses after the
// reauthorization grace, 1 hour × Scale, unless the app reauthorizes or
// renews the subscription).
func (em *Emulator) SendLifecycle(id, event string) error {
	n := em.notifier()
	s := n.get(id)
	if s == nil {
		return errNoSubscription
	}
	if s.lifeURL == "" {
		return fmt.Errorf("emulator: subscription %s has no lifecycleNotificationUrl", id)
	}
	switch event {
	case "subscriptionRemoved":
		if !s.t.outlook && !s.t.teams {
			return fmt.Errorf("emulator: Graph sends subscriptionRemoved only for Outlook resources and chat messages, not %s", s.resource)
		}
		if !n.remove(id, true, event) {
			return errNoSubscription
		}
		return nil
	case "missed":
		if !s.t.outlook {
			return fmt.Errorf("emulator: Graph sends missed only for Outlook resources, not %s", s.resource)
		}
	case "reauthorizationRequired":
	default:
		return fmt.Errorf("emulator: unknown lifecycle event %q (want missed, subscriptionRemoved or reauthorizationRequired)", event)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.subs[id] != s {
		return errNoSubscription
	}
	if event == "reauthorizationRequired" {
		now := em.now()
		s.lastChallenge = now
		if at := now.Add(n.cfg.scaled(time.Hour)); at.Before(s.pauseAt) {
			s.pauseAt = at
		}
	}
	n.queueLocked(n.lifecycleNote(s, s.exp, event))
	return nil
}

// SetUnreachable makes notification and validation requests to URLs
// starting with prefix fail as if the endpoint could not be reached (no
// request is made), or undoes it.
func (em *Emulator) SetUnreachable(prefix string, unreachable bool) {
	n := em.notifier()
	n.mu.Lock()
	defer n.mu.Unlock()
	out := n.down[:0]
	for _, p := range n.down {
		if p != prefix {
			out = append(out, p)
		}
	}
	n.down = out
	if unreachable {
		n.down = append(n.down, prefix)
	}
}

func (n *notifier) unreachableLocked(u string) bool {
	for _, p := range n.down {
		if strings.HasPrefix(u, p) {
			return true
		}
	}
	return false
}

// NotificationCounters returns a copy of the notification counters.
func (em *Emulator) NotificationCounters() NotificationCounters {
	n := em.notifier()
	n.mu.Lock()
	defer n.mu.Unlock()
	c := n.cnt
	c.Lifecycle = make(map[string]int64, len(n.cnt.Lifecycle))
	for k, v := range n.cnt.Lifecycle {
		c.Lifecycle[k] = v
	}
	now := em.now()
	for _, s := range n.subs {
		if s.exp.After(now) {
			c.Subscriptions++
		}
	}
	return c
}

// ResetNotificationCounters zeroes the counters and empties the log.
func (em *Emulator) ResetNotificationCounters() {
	n := em.notifier()
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cnt = NotificationCounters{Lifecycle: map[string]int64{}}
	n.log, n.logNext = nil, 0
}

// NotificationLog returns the latest notification records (up to 10,000),
// oldest first.
func (em *Emulator) NotificationLog() []NotificationRecord {
	n := em.notifier()
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]NotificationRecord, 0, len(n.log))
	for i := range n.log {
		out = append(out, *n.log[(n.logNext+i)%len(n.log)])
	}
	return out
}

func (n *notifier) recordLocked(r *NotificationRecord) {
	if len(n.log) < logSize {
		n.log = append(n.log, r)
		return
	}
	n.log[n.logNext] = r
	n.logNext = (n.logNext + 1) % logSize
}

// Validation handshake (change-notifications-delivery-webhooks,
// "notificationUrl validation"): POST {url}?validationToken=..., answered
// within 10 seconds by 200, text/plain and the decoded token. The token has
// the form real Graph validation requests carry. It returns the error code
// and message for a 400, or "" when validation passed.
func (n *notifier) validate(ctx context.Context, target string) (string, string) {
	token := "Validation: Testing client application reachability for subscription Request-Id: " + newGUID()
	sep := "?"
	if strings.Contains(target, "?") {
		sep = "&"
	}
	n.mu.Lock()
	n.cnt.Validations++
	down := n.unreachableLocked(target)
	n.mu.Unlock()
	code, msg := n.handshake(ctx, target+sep+"validationToken="+url.QueryEscape(token), token, down)
	if code != "" {
		n.mu.Lock()
		n.cnt.ValidationsFailed++
		n.mu.Unlock()
	}
	return code, msg
}

func (n *notifier) handshake(ctx context.Context, u, token string, down bool) (string, string) {
	const noOK = "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request."
	if down {
		return "ValidationError", noOK
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.ValidationTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return "ValidationError", noOK
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	resp, err := n.client.Do(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return "InvalidRequest", "Subscription validation request timed out."
		}
		return "ValidationError", noOK
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return "InvalidRequest", "Subscription validation request timed out."
		}
		return "ValidationError", noOK
	}
	if resp.StatusCode != http.StatusOK {
		return "ValidationError", noOK
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "text/plain" {
		return "ValidationError", "Subscription validation request failed. Response must be of content type text/plain."
	}
	if string(body) != token {
		return "ValidationError", "Subscription validation request failed. Response must exactly match validationToken query parameter."
	}
	return "", ""
}

// pendingNote is a notification on its way to a URL.
type pendingNote struct {
	sub  *subscription
	url  string
	body json.RawMessage
	rec  *NotificationRecord
	life string // lifecycle event; "" for a change notification
}

type urlQueue struct {
	url     string
	pending []*pendingNote
	timer   *time.Timer
	sem     chan struct{}
}

// endpoint holds a notification URL's response statistics for throttling
// (change-notifications-delivery-webhooks, "Throttling").
type endpoint struct {
	start       time.Time
	total, slow int
	mode        int
}

const (
	epNormal = iota
	epDelayed
	epDropping
)

func (n *notifier) lifecycleNote(s *subscription, exp time.Time, event string) *pendingNote {
	var state any
	if s.clientState != nil {
		state = *s.clientState
	}
	b, _ := json.Marshal(map[string]any{
		"subscriptionId": s.id, "subscriptionExpirationDateTime": exp.UTC().Format(graphTime7),
		"tenantId": s.tenant, "clientState": state, "lifecycleEvent": event,
	})
	now := n.em.now()
	return &pendingNote{sub: s, url: s.lifeURL, body: b, life: event,
		rec: &NotificationRecord{SubscriptionID: s.id, URL: s.lifeURL, LifecycleEvent: event, QueuedAt: now, State: "queued"}}
}

// changeNote builds a change notification without resource data (the
// changeNotification resource; Outlook, Teams and drive examples in
// change-notifications-delivery-webhooks, teams-change-notification-in-
// microsoft-teams-overview and subscription-post-subscriptions).
func (n *notifier) changeNote(s *subscription, exp time.Time, kind, resource, id string, data any, at time.Time) *pendingNote {
	var state any
	if s.clientState != nil {
		state = *s.clientState
	}
	b, _ := json.Marshal(map[string]any{
		"subscriptionId": s.id, "subscriptionExpirationDateTime": exp.UTC().Format(graphTime7),
		"changeType": kind, "resource": resource, "resourceData": data, "clientState": state, "tenantId": s.tenant,
	})
	return &pendingNote{sub: s, url: s.notifyURL, body: b,
		rec: &NotificationRecord{SubscriptionID: s.id, URL: s.notifyURL, ChangeType: kind, Resource: resource, ResourceID: id, ChangedAt: at, State: "queued"}}
}

// queueLocked adds a note to its URL's batch; called with mu held.
func (n *notifier) queueLocked(p *pendingNote) {
	if n.closed {
		return
	}
	p.rec.QueuedAt = n.em.now()
	n.recordLocked(p.rec)
	if p.life != "" {
		n.cnt.Lifecycle[p.life]++
	} else {
		n.cnt.Notifications++
	}
	q := n.queues[p.url]
	if q == nil {
		q = &urlQueue{url: p.url, sem: make(chan struct{}, postsPerURL)}
		n.queues[p.url] = q
	}
	q.pending = append(q.pending, p)
	if len(q.pending) >= n.cfg.MaxBatch || n.cfg.BatchWindow < 0 {
		n.flushLocked(q)
		return
	}
	if q.timer == nil {
		q.timer = time.AfterFunc(n.cfg.BatchWindow, func() {
			n.mu.Lock()
			defer n.mu.Unlock()
			q.timer = nil
			n.flushLocked(q)
		})
	}
}

func (n *notifier) flushLocked(q *urlQueue) {
	for len(q.pending) > 0 && !n.closed {
		k := min(n.cfg.MaxBatch, len(q.pending))
		batch := append([]*pendingNote(nil), q.pending[:k]...)
		q.pending = q.pending[k:]
		n.wg.Add(1)
		go n.deliver(q, batch)
	}
}

// deliver POSTs a batch, retrying with backoff (1 minute doubling to 1
// hour, × Scale) until a 2xx or until the 4-hour retry window (× Scale)
// would be passed, then gives up and sends missed.
func (n *notifier) deliver(q *urlQueue, batch []*pendingNote) {
	defer n.wg.Done()
	first := time.Now()
	for attempt := 0; ; attempt++ {
		batch = n.live(batch)
		if len(batch) == 0 {
			return
		}
		mode, delay := n.endpointMode(q.url)
		if mode == epDropping {
			n.giveUp(batch, "dropped")
			return
		}
		if mode == epDelayed && attempt == 0 && !n.sleep(delay) {
			return
		}
		timeout := n.cfg.DeliveryTimeout
		if attempt > 0 {
			timeout = n.cfg.RetryTimeout
		}
		if n.post(q, batch, timeout) {
			return
		}
		wait := n.cfg.scaled(min(time.Minute<<min(attempt, 6), time.Hour))
		if time.Since(first)+wait > n.cfg.scaled(4*time.Hour) {
			n.giveUp(batch, "failed")
			return
		}
		if !n.sleep(wait) {
			return
		}
		n.mu.Lock()
		for _, p := range batch {
			if p.life == "" {
				n.cnt.Retried++
			}
		}
		n.mu.Unlock()
	}
}

func (n *notifier) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-n.ctx.Done():
		return false
	}
}

// live drops the change notes whose subscription is gone or paused
// ("no more notifications" once deleted or expired); lifecycle notes go
// regardless (subscriptionRemoved follows the removal).
func (n *notifier) live(batch []*pendingNote) []*pendingNote {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.em.now()
	out := batch[:0]
	for _, p := range batch {
		if p.life == "" && (n.subs[p.sub.id] != p.sub || !p.sub.exp.After(now) || p.sub.paused) {
			p.rec.State = "dropped"
			n.cnt.Dropped++
			continue
		}
		out = append(out, p)
	}
	return out
}

// post sends one batch; it reports whether the endpoint answered 2xx in time.
func (n *notifier) post(q *urlQueue, batch []*pendingNote, timeout time.Duration) bool {
	select {
	case q.sem <- struct{}{}:
	case <-n.ctx.Done():
		return false
	}
	defer func() { <-q.sem }()
	var body bytes.Buffer
	body.WriteString(`{"value":[`)
	for i, p := range batch {
		if i > 0 {
			body.WriteByte(',')
		}
		body.Write(p.body)
	}
	body.WriteString(`]}`)
	n.mu.Lock()
	down := n.unreachableLocked(q.url)
	n.cnt.Posts++
	n.mu.Unlock()
	start := time.Now()
	ok, answered := false, false
	if !down {
		ctx, cancel := context.WithTimeout(n.ctx, timeout)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, q.url, &body)
		if err == nil {
			req.Header.Set("Content-Type", "application/json; charset=utf-8")
			if resp, err := n.client.Do(req); err == nil {
				_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
				resp.Body.Close()
				answered = err == nil
				ok = answered && resp.StatusCode >= 200 && resp.StatusCode < 300
			}
		}
		cancel()
	}
	took := time.Since(start)
	if n.ctx.Err() != nil {
		return false
	}
	slow := took > n.cfg.DeliveryTimeout*29/30
	n.mu.Lock()
	defer n.mu.Unlock()
	n.endpointResultLocked(q.url, slow, answered)
	if slow {
		n.cnt.SlowPosts++
	}
	now := n.em.now()
	for _, p := range batch {
		p.rec.Attempts++
		if !ok {
			continue
		}
		p.rec.State, p.rec.DeliveredAt = "delivered", now
		if p.life == "" {
			n.cnt.Delivered++
		} else {
			n.cnt.LifecycleDelivered++
		}
	}
	if !ok {
		n.cnt.PostsFailed++
	}
	return ok
}

// giveUp ends a batch's delivery and, for change notifications of Outlook
// subscriptions with a lifecycle URL, sends missed (change-notifications-
// lifecycle-events: "some change notifications weren't delivered").
func (n *notifier) giveUp(batch []*pendingNote, state string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	missed := map[*subscription]bool{}
	var order []*subscription
	for _, p := range batch {
		p.rec.State = state
		switch {
		case p.life != "":
			n.cnt.LifecycleFailed++
			continue
		case state == "dropped":
			n.cnt.Dropped++
		default:
			n.cnt.Failed++
		}
		s := p.sub
		if s.t.outlook && s.lifeURL != "" && n.subs[s.id] == s && !missed[s] {
			missed[s] = true
			order = append(order, s)
		}
	}
	for _, s := range order {
		n.queueLocked(n.lifecycleNote(s, s.exp, "missed"))
	}
}

// endpointMode applies the documented throttling: once an endpoint has
// answered 100 requests in the current 10-minute window (× Scale), 10%
// slow responses delay its notifications by 10 minutes (× Scale) and 15%
// drop them.
func (n *notifier) endpointMode(u string) (int, time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	ep := n.eps[u]
	if ep == nil {
		return epNormal, 0
	}
	if time.Since(ep.start) >= n.cfg.scaled(10*time.Minute) {
		*ep = endpoint{start: time.Now()}
	}
	return ep.mode, n.cfg.scaled(10 * time.Minute)
}

func (n *notifier) endpointResultLocked(u string, slow, answered bool) {
	ep := n.eps[u]
	if ep == nil || time.Since(ep.start) >= n.cfg.scaled(10*time.Minute) {
		ep = &endpoint{start: time.Now()}
		n.eps[u] = ep
	}
	if !answered && !slow {
		return
	}
	ep.total++
	if slow {
		ep.slow++
	}
	if ep.total >= 100 {
		switch pct := float64(ep.slow) / float64(ep.total); {
		case pct >= 0.15:
			ep.mode = epDropping
		case pct >= 0.10:
			ep.mode = epDelayed
		default:
			ep.mode = epNormal
		}
	}
}

// tick expires subscriptions, sends reauthorizationRequired challenges and
// pauses unauthorized delivery (change-notifications-lifecycle-events:
// challenges come when the access token or the subscription is about to
// expire; without a reauthorization "change notification delivery
// pauses"). Challenges go to subscriptions with a lifecycle URL only, 15
// minutes (× Scale) ahead and every 15 minutes (× Scale) after; delivery
// pauses 1 hour (× Scale) after the authorizing token expired.
func (n *notifier) tick() {
	now := n.em.now()
	lead := n.cfg.scaled(15 * time.Minute)
	chats := false
	n.mu.Lock()
	for id, s := range n.subs {
		if !s.exp.After(now) {
			delete(n.subs, id)
			n.cnt.Expired++
			continue
		}
		switch s.t.kind {
		case tChat, tUserChats, tAllChats:
			chats = true
		}
		if s.lifeURL == "" || s.paused {
			continue
		}
		if !s.expiryWarned && !now.Before(s.exp.Add(-lead)) {
			s.expiryWarned = true
			n.queueLocked(n.lifecycleNote(s, s.exp, "reauthorizationRequired"))
		}
		if !now.Before(s.authExp.Add(-lead)) && (s.lastChallenge.IsZero() || now.Sub(s.lastChallenge) >= lead) {
			s.lastChallenge = now
			n.queueLocked(n.lifecycleNote(s, s.exp, "reauthorizationRequired"))
		}
		if !now.Before(s.pauseAt) {
			s.paused = true
		}
	}
	n.mu.Unlock()
	// Chat messages change without a version: look for them regularly too.
	if chats {
		n.scan()
	}
}

// scan turns the data changes since the last scan into notifications.
func (n *notifier) scan() {
	n.scanMu.Lock()
	defer n.scanMu.Unlock()
	n.scanLocked()
}

// subState is a subscription as a scan sees it.
type subState struct {
	s   *subscription
	exp time.Time
}

type entryChange struct {
	e     *entry
	ver   uint64
	kinds []string
}

func (n *notifier) scanLocked() {
	em := n.em
	now := em.now()
	n.mu.Lock()
	subs := make([]subState, 0, len(n.subs))
	for _, s := range n.subs {
		if s.exp.After(now) {
			subs = append(subs, subState{s, s.exp})
		}
	}
	n.mu.Unlock()
	sort.Slice(subs, func(i, j int) bool {
		return subs[i].s.created.Before(subs[j].s.created) || (subs[i].s.created.Equal(subs[j].s.created) && subs[i].s.id < subs[j].s.id)
	})
	em.mu.RLock()
	cur, from := em.version, n.lastVer
	n.verMu.Lock()
	times := map[uint64]time.Time{}
	rest := n.verTimes[:0]
	for _, vt := range n.verTimes {
		if vt.ver <= cur {
			times[vt.ver] = vt.at
		} else {
			rest = append(rest, vt)
		}
	}
	n.verTimes = rest
	n.verMu.Unlock()
	latest := time.Unix(0, n.lastChange.Load())
	at := func(v uint64) time.Time {
		if t, ok := times[v]; ok {
			return t
		}
		return latest
	}
	memo := map[*collection][]entryChange{}
	changes := func(c *collection) []entryChange {
		if cs, ok := memo[c]; ok {
			return cs
		}
		cs := collectionChanges(c, from, cur)
		memo[c] = cs
		return cs
	}
	chatMemo := map[*chat][]chatChange{}
	contactMemo := map[*userRec][]entryChange{}
	var notes []*pendingNote
	for _, st := range subs {
		notes = append(notes, n.notesFor(st, changes, chatMemo, contactMemo, at, latest)...)
	}
	em.mu.RUnlock()
	n.lastVer = cur
	if len(notes) == 0 {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, p := range notes {
		if n.subs[p.sub.id] != p.sub || p.sub.paused {
			// Delivery paused: these changes are lost, as documented.
			n.recordLocked(p.rec)
			p.rec.State = "dropped"
			n.cnt.Dropped++
			continue
		}
		n.queueLocked(p)
	}
}

// collectionChanges lists the entries of c changed in versions (from, cur]
// with their change types: created, updated, deleted, or created and
// deleted when both happened since the last scan.
func collectionChanges(c *collection, from, cur uint64) []entryChange {
	if c == nil || from >= cur {
		return nil
	}
	i := sort.Search(len(c.logVer), func(i int) bool { return c.logVer[i] > from })
	var out []entryChange
	seen := map[*entry]int{}
	for ; i < len(c.logVer) && c.logVer[i] <= cur; i++ {
		e, v := c.logEnt[i], c.logVer[i]
		if k, ok := seen[e]; ok {
			out[k].ver = v
			continue
		}
		seen[e] = len(out)
		out = append(out, entryChange{e: e, ver: v})
	}
	for k := range out {
		e := out[k].e
		switch created := e.created > from; {
		case e.deleted && created:
			out[k].kinds = []string{"created", "deleted"}
		case e.deleted:
			out[k].kinds = []string{"deleted"}
		case created:
			out[k].kinds = []string{"created"}
		default:
			out[k].kinds = []string{"updated"}
		}
	}
	return out
}

type chatChange struct {
	c     *chat
	m     *chatMsg
	kinds []string
}

func snapChat(c *chat) []msgSnap {
	s := make([]msgSnap, len(c.msgs))
	for i, m := range c.msgs {
		s[i] = msgSnap{m.modified, m.deleted != nil}
	}
	return s
}

// chatChanges compares a chat's messages with the last snapshot: new ones
// are created, soft-deleted ones deleted, other modified ones updated.
func (n *notifier) chatChanges(c *chat) []chatChange {
	snap, ok := n.chatSnap[c]
	if !ok {
		n.chatSnap[c] = snapChat(c)
		return nil
	}
	var out []chatChange
	for i, m := range c.msgs {
		del := m.deleted != nil
		if i >= len(snap) {
			kinds := []string{"created"}
			if del {
				kinds = append(kinds, "deleted")
			}
			out = append(out, chatChange{c, m, kinds})
			continue
		}
		if m.modified.Equal(snap[i].modified) && del == snap[i].deleted {
			continue
		}
		kind := "updated"
		if del && !snap[i].deleted {
			kind = "deleted"
		}
		out = append(out, chatChange{c, m, []string{kind}})
	}
	if len(out) > 0 {
		n.chatSnap[c] = snapChat(c)
	}
	return out
}

// watchedChats lists the chats a subscription covers; em.mu held.
func (n *notifier) watchedChats(s *subscription) []*chat {
	em := n.em
	switch s.t.kind {
	case tChat:
		return []*chat{s.t.chat}
	case tUserChats:
		return em.chatsByUser[s.t.user]
	case tAllChats:
		out := make([]*chat, 0, len(em.chats))
		for _, id := range sortedKeys(em.chats) {
			out = append(out, em.chats[id])
		}
		return out
	}
	return nil
}

func contactSet(u *userRec) map[*collection]bool {
	set := map[*collection]bool{}
	for _, c := range u.contacts {
		set[c] = true
	}
	return set
}

// contactChanges lists a user's contact changes, including the contacts
// of contact folders deleted since the last scan (they go with their
// folder without records of their own).
func (n *notifier) contactChanges(u *userRec, changes func(*collection) []entryChange) []entryChange {
	var out []entryChange
	seen := map[*collection]bool{}
	for _, k := range sortedKeys(u.contacts) {
		c := u.contacts[k]
		if seen[c] {
			continue
		}
		seen[c] = true
		out = append(out, changes(c)...)
	}
	prev := n.contactCols[u]
	for c := range prev {
		if !seen[c] {
			for _, e := range c.live() {
				out = append(out, entryChange{e: e, kinds: []string{"deleted"}})
			}
		}
	}
	n.contactCols[u] = seen
	return out
}

// notesFor builds one subscription's notifications; em.mu held for reading.
func (n *notifier) notesFor(st subState, changes func(*collection) []entryChange,
	chatMemo map[*chat][]chatChange, contactMemo map[*userRec][]entryChange, at func(uint64) time.Time, latest time.Time) []*pendingNote {
	s, t := st.s, st.s.t
	var out []*pendingNote
	outlook := func(cs []entryChange, path, typ string) {
		for _, ch := range cs {
			id := ch.e.servedID(s.immutable)
			if ch.e.raw != nil {
				id, _ = rawID(ch.e.raw)
			}
			if id == "" {
				continue // an injected item without an id names nothing
			}
			res := "Users/" + t.user.id + "/" + path + "/" + id
			rd := map[string]any{"@odata.type": typ, "@odata.id": res, "id": id}
			if etag := ch.e.obj.get("@odata.etag"); etag != nil {
				rd["@odata.etag"] = json.RawMessage(etag)
			}
			for _, k := range ch.kinds {
				if s.changes[k] {
					out = append(out, n.changeNote(s, st.exp, k, res, id, rd, at(ch.ver)))
				}
			}
		}
	}
	switch t.kind {
	case tMailbox:
		for _, f := range t.user.mail.order {
			outlook(changes(f.msgs), "Messages", "#Microsoft.Graph.Message")
		}
	case tFolder:
		outlook(changes(t.folder.msgs), "Messages", "#Microsoft.Graph.Message")
	case tEvents:
		outlook(eventChanges(changes(t.user.events)), "Events", "#Microsoft.Graph.Event")
	case tContacts:
		cs, ok := contactMemo[t.user]
		if !ok {
			cs = n.contactChanges(t.user, changes)
			contactMemo[t.user] = cs
		}
		outlook(cs, "Contacts", "#Microsoft.Graph.Contact")
	case tDrive:
		// A drive subscription says only that something changed under the
		// root: resourceData is null and the app calls delta.
		if cs := changes(t.drive.col); len(cs) > 0 && s.changes["updated"] {
			out = append(out, n.changeNote(s, st.exp, "updated", s.resource, "", nil, at(cs[len(cs)-1].ver)))
		}
	case tUsers:
		for _, ch := range changes(n.em.usersCol) {
			id := ch.e.id
			if t.user != nil && id != t.user.id {
				continue
			}
			// Creation, update and soft deletion are all "updated" for
			// users; permanent deletion (which the emulator never does) is
			// "deleted" (subscription resource, changeType).
			if !s.changes["updated"] {
				continue
			}
			res := "Users/" + id
			rd := map[string]any{"@odata.type": "#Microsoft.Graph.User", "@odata.id": res, "id": id, "organizationId": n.em.cfg.TenantID}
			out = append(out, n.changeNote(s, st.exp, "updated", res, id, rd, at(ch.ver)))
		}
	case tGroups:
		// One notification per group changed since the last scan, its own
		// records and its membership records alike.
		done := map[string]bool{}
		for _, ch := range changes(n.em.groupCol) {
			g, ok := ch.e.aux.(*group)
			if !ok {
				g = ch.e.aux.(*memberChunk).g
			}
			if done[g.id] || (t.canon != "groups" && t.canon != "groups/"+g.id) {
				continue
			}
			done[g.id] = true
			kind := "updated"
			if g.e.deleted && !g.unified {
				kind = "deleted"
			}
			if !s.changes[kind] {
				continue
			}
			res := "Groups/" + g.id
			rd := map[string]any{"@odata.type": "#Microsoft.Graph.Group", "@odata.id": res, "id": g.id, "organizationId": n.em.cfg.TenantID}
			out = append(out, n.changeNote(s, st.exp, kind, res, g.id, rd, at(ch.ver)))
		}
	case tChat, tUserChats, tAllChats:
		for _, c := range n.watchedChats(s) {
			cs, ok := chatMemo[c]
			if !ok {
				cs = n.chatChanges(c)
				chatMemo[c] = cs
			}
			for _, ch := range cs {
				res := "chats('" + c.id + "')/messages('" + ch.m.id + "')"
				rd := map[string]any{"id": ch.m.id, "@odata.type": "#Microsoft.Graph.chatMessage", "@odata.id": res}
				for _, k := range ch.kinds {
					if s.changes[k] {
						out = append(out, n.changeNote(s, st.exp, k, res, ch.m.id, rd, latest))
					}
				}
			}
		}
	}
	return out
}

// eventChanges maps a change of an occurrence (not served by /events) to
// an update of its series master.
func eventChanges(cs []entryChange) []entryChange {
	var out []entryChange
	masters := map[*entry]bool{}
	for _, ch := range cs {
		if st, ok := ch.e.aux.(*eventState); ok && st.kind == "occurrence" {
			continue
		}
		masters[ch.e] = true
		out = append(out, ch)
	}
	for _, ch := range cs {
		st, ok := ch.e.aux.(*eventState)
		if !ok || st.kind != "occurrence" || st.master == nil || masters[st.master] || st.master.deleted {
			continue
		}
		masters[st.master] = true
		out = append(out, entryChange{e: st.master, ver: ch.ver, kinds: []string{"updated"}})
	}
	return out
}
