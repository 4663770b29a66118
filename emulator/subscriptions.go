package emulator

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"
)

// Change notifications: the /v1.0/subscriptions endpoints. Sources, read
// 2026 (live pages, or their sources in microsoftgraph/microsoft-graph-docs-contrib):
//   - api-reference/v1.0/api/subscription-post-subscriptions.md (permissions,
//     201 response, 409 on duplicates, 400 when validation fails),
//   - api-reference/v1.0/resources/subscription.md (properties, "Subscription
//     lifetime" table, the 45-minute minimum, lifecycleNotificationUrl
//     required for Teams beyond 1 hour),
//   - concepts/change-notifications-overview.md and
//     change-notifications-delivery-webhooks.md (validation, delivery),
//   - concepts/outlook-change-notifications-overview.md (1,000 per mailbox),
//   - api-reference/v1.0/api/subscription-list.md (visibility, no clientState).

// Notifications configures change notifications. The zero value follows
// Microsoft's documented timings; tests shorten them.
type Notifications struct {
	// AllowRemote lets the emulator POST to notification URLs that are not
	// loopback addresses. Off (the default), such URLs are refused when a
	// subscription is created and the emulator's dialer refuses any
	// non-loopback address.
	AllowRemote bool
	// ValidationTimeout is how long the validation request waits for the
	// endpoint's answer; default 10 s as documented.
	ValidationTimeout time.Duration
	// DeliveryTimeout is how long a notification POST may take to be
	// answered 2xx; default 3 s as documented. RetryTimeout is the same for
	// retries; default 10 s.
	DeliveryTimeout time.Duration
	RetryTimeout    time.Duration
	// Scale multiplies every wait the notification service schedules by
	// itself: retry backoff (1 minute doubling up to 1 hour), the 4-hour
	// retry window, the 10-minute throttling window and delay, and the
	// reauthorization lead (15 minutes), repeat (15 minutes) and grace
	// (1 hour). Default 1; tests use e.g. 0.0001 (4 hours become 1.44 s).
	Scale float64
	// BatchWindow is how long notifications for one URL are collected
	// before being POSTed together, MaxBatch at most per POST; defaults
	// 100 ms and 100. A negative BatchWindow sends without waiting.
	BatchWindow time.Duration
	MaxBatch    int
	// MailboxLimit is the number of active Outlook subscriptions (messages,
	// events, contacts) a mailbox may hold across all apps; default 1,000 as
	// documented.
	MailboxLimit int
}

func (n Notifications) withDefaults() Notifications {
	if n.ValidationTimeout <= 0 {
		n.ValidationTimeout = 10 * time.Second
	}
	if n.DeliveryTimeout <= 0 {
		n.DeliveryTimeout = 3 * time.Second
	}
	if n.RetryTimeout <= 0 {
		n.RetryTimeout = 10 * time.Second
	}
	if n.Scale <= 0 {
		n.Scale = 1
	}
	if n.BatchWindow == 0 {
		n.BatchWindow = 100 * time.Millisecond
	}
	if n.MaxBatch <= 0 {
		n.MaxBatch = 100
	}
	if n.MailboxLimit <= 0 {
		n.MailboxLimit = 1000
	}
	return n
}

// scaled applies Scale to a documented wait.
func (n Notifications) scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) * n.Scale)
}

// targetKind is what a subscription watches.
type targetKind int

const (
	tMailbox   targetKind = iota // users/{id}/messages
	tFolder                      // users/{id}/mailFolders/{id}/messages
	tEvents                      // users/{id}/events
	tContacts                    // users/{id}/contacts
	tDrive                       // drives/{id}/root, users/{id}/drive/root
	tUsers                       // users, users/{id}
	tGroups                      // groups, groups/{id}
	tChat                        // chats/{id}/messages
	tUserChats                   // users/{id}/chats/getAllMessages
	tAllChats                    // chats/getAllMessages
)

// target is a parsed subscription resource.
type target struct {
	kind   targetKind
	user   *userRec
	drive  *driveRec
	folder *folder
	chat   *chat
	canon  string // canonical resource, for duplicates
	// Permissions, as subscription-post-subscriptions documents them (the
	// least privileged plus the broader ones that include them). nil scopes:
	// delegated permissions are not supported.
	scopes, roles []string
	// self: a delegated caller may subscribe only to its own user's data.
	self    bool
	maxLife time.Duration
	changes []string // supported change types
	outlook bool     // counts towards the mailbox limit; missed is sent
	teams   bool     // lifecycleNotificationUrl required beyond 1 hour
}

var (
	allChanges  = []string{"created", "updated", "deleted"}
	subMailPerm = []string{"Mail.ReadBasic", "Mail.Read", "Mail.ReadWrite"}
	subCalPerm  = []string{"Calendars.Read", "Calendars.ReadWrite"}
	subConPerm  = []string{"Contacts.Read", "Contacts.ReadWrite"}
	subFilePerm = []string{"Files.Read.All", "Files.ReadWrite.All"}
	subUserPerm = []string{"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
	subGrpPerm  = []string{"Group.Read.All", "Group.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
	subChatPerm = []string{"Chat.Read", "Chat.ReadWrite"}
	subChatRole = []string{"Chat.Read.All", "Chat.ReadWrite.All"}
)

// Maximum lifetimes from the subscription resource's "Subscription
// lifetime" table (basic notifications, without resource data).
const (
	lifeOutlook = 10080 * time.Minute // message, event, contact: under 7 days
	lifeDrive   = 42300 * time.Minute // driveItem: under 30 days
	lifeUsers   = 41760 * time.Minute // user and other directory resources: under 29 days
	lifeTeams   = 4320 * time.Minute  // chatMessage: 3 days, with a lifecycle URL past 1 hour
	minLife     = 45 * time.Minute    // shorter requests are set to 45 minutes
)

// resourceSegments splits a resource path into segments, unescaping them
// and turning OData key syntax (mailFolders('inbox')) into two segments.
func resourceSegments(p string) []string {
	var segs []string
	for _, s := range strings.Split(strings.Trim(p, "/"), "/") {
		if u, err := url.PathUnescape(s); err == nil {
			s = u
		}
		if i := strings.Index(s, "("); i > 0 && strings.HasSuffix(s, ")") {
			segs = append(segs, s[:i], strings.Trim(s[i+1:len(s)-1], "'"))
			continue
		}
		segs = append(segs, s)
	}
	return segs
}

// parseTarget resolves a subscription resource; on failure it writes the
// error. Called without em.mu.
func (c *call) parseTarget(resource string) (target, bool) {
	em := c.em
	var t target
	bad := func(msg string) (target, bool) {
		c.fail(http.StatusBadRequest, "InvalidRequest", msg)
		return t, false
	}
	r := strings.TrimSpace(resource)
	if r == "" {
		return bad("resource is a required property for subscription creation.")
	}
	if strings.Contains(r, "?") {
		return bad(fmt.Sprintf("The emulator supports no query options in a subscription resource: '%s'.", resource))
	}
	segs := resourceSegments(r)
	if len(segs) > 0 && strings.EqualFold(segs[0], "me") {
		if c.tok.app {
			c.fail(http.StatusBadRequest, "BadRequest", "/me request is only valid with delegated authentication flow.")
			return t, false
		}
		segs = append([]string{"users", c.tok.oid}, segs[1:]...)
	}
	is := func(pattern ...string) bool {
		if len(pattern) != len(segs) {
			return false
		}
		for i, p := range pattern {
			if p != "*" && !strings.EqualFold(p, segs[i]) {
				return false
			}
		}
		return true
	}
	em.mu.RLock()
	defer em.mu.RUnlock()
	user := func(id string) bool {
		t.user = em.lookupUser(id)
		if t.user == nil {
			c.userNotFound(id)
			return false
		}
		return true
	}
	outlook := func(kind targetKind, perm []string, name string) {
		t.kind, t.scopes, t.roles, t.self, t.maxLife, t.changes, t.outlook = kind, perm, perm, true, lifeOutlook, allChanges, true
		t.canon = "users/" + t.user.id + "/" + name
	}
	switch {
	case is("users", "*", "messages"):
		if !user(segs[1]) {
			return t, false
		}
		outlook(tMailbox, subMailPerm, "messages")
	case is("users", "*", "mailFolders", "*", "messages"):
		if !user(segs[1]) {
			return t, false
		}
		t.folder = t.user.mail.folder(segs[3])
		if t.folder == nil {
			c.fail(http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
			return t, false
		}
		outlook(tFolder, subMailPerm, "mailFolders/"+t.folder.id+"/messages")
	case is("users", "*", "events"):
		if !user(segs[1]) {
			return t, false
		}
		outlook(tEvents, subCalPerm, "events")
	case is("users", "*", "contacts"):
		if !user(segs[1]) {
			return t, false
		}
		outlook(tContacts, subConPerm, "contacts")
	case is("users", "*", "drive", "root"), is("drives", "*", "root"):
		if strings.EqualFold(segs[0], "drives") {
			t.drive = em.driveByID(segs[1])
			if t.drive == nil {
				c.fail(http.StatusNotFound, "itemNotFound", "The resource could not be found.")
				return t, false
			}
			t.user = t.drive.user
		} else if !user(segs[1]) {
			return t, false
		} else {
			t.drive = t.user.od
		}
		// Drive root subscriptions support only "updated".
		t.kind, t.scopes, t.roles, t.maxLife, t.changes = tDrive, subFilePerm, subFilePerm, lifeDrive, []string{"updated"}
		t.canon = "drives/" + t.drive.id + "/root"
	case is("users"), is("users", "*"):
		if len(segs) == 2 && !user(segs[1]) {
			return t, false
		}
		// Users support "updated" (created, updated, soft deleted) and
		// "deleted" (permanently deleted).
		t.kind, t.scopes, t.roles, t.maxLife, t.changes, t.canon = tUsers, subUserPerm, subUserPerm, lifeUsers, []string{"updated", "deleted"}, "users"
		if t.user != nil {
			t.canon = "users/" + t.user.id
		}
	case is("groups"), is("groups", "*"):
		// Groups support "updated" (created, updated, members changed, a
		// Microsoft 365 group soft deleted) and "deleted" (deleted for good).
		t.kind, t.scopes, t.roles, t.maxLife, t.changes, t.canon = tGroups, subGrpPerm, subGrpPerm, lifeUsers, []string{"updated", "deleted"}, "groups"
		if len(segs) == 2 {
			g := em.groupByID(segs[1])
			if g == nil {
				c.fail(http.StatusNotFound, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", segs[1]))
				return t, false
			}
			t.canon = "groups/" + g.id
		}
	case is("chats", "getAllMessages"):
		t.kind, t.scopes, t.roles, t.canon = tAllChats, nil, subChatRole, "chats/getAllMessages"
		t.maxLife, t.changes, t.teams = lifeTeams, allChanges, true
	case is("users", "*", "chats", "getAllMessages"):
		if !user(segs[1]) {
			return t, false
		}
		t.kind, t.scopes, t.roles, t.self, t.canon = tUserChats, subChatPerm, subChatRole, true, "users/"+t.user.id+"/chats/getAllMessages"
		t.maxLife, t.changes, t.teams = lifeTeams, allChanges, true
	case is("chats", "*", "messages"):
		t.chat = em.chats[segs[1]]
		if t.chat == nil {
			c.fail(http.StatusNotFound, "NotFound", "Resource not found.")
			return t, false
		}
		t.kind, t.scopes, t.roles, t.canon = tChat, subChatPerm, subChatRole, "chats/"+t.chat.id+"/messages"
		t.maxLife, t.changes, t.teams = lifeTeams, allChanges, true
	default:
		return bad(fmt.Sprintf("The emulator does not support change notifications for resource '%s'.", resource))
	}
	return t, true
}

// permitted reports whether the token may create or manage a subscription
// on t. Delegated Outlook subscriptions cover only the signed-in user's
// mailbox, whatever *.Shared permission the token holds
// (subscription-post-subscriptions, "contact, event, and message").
func (t target) permitted(tok *accessClaims) bool {
	have, need := tok.scp, t.scopes
	if tok.app {
		have, need = tok.roles, t.roles
	}
	if !slices.ContainsFunc(need, func(n string) bool { return hasFold(have, n) }) {
		return false
	}
	if tok.app {
		return true
	}
	if t.self && t.user != nil && t.user.id != tok.oid {
		return false
	}
	if t.kind == tChat && !slices.ContainsFunc(t.chat.members, func(u *userRec) bool { return u.id == tok.oid }) {
		return false
	}
	return true
}

// forbidden writes the subscription service's 403, as real responses show
// it (OneDrive/onedrive-api-docs#1398, msgraph-sdk-dotnet#365).
func (c *call) forbidden(op, reason string) {
	c.fail(http.StatusForbidden, "ExtensionError", fmt.Sprintf("Operation: %s; Exception: [Status Code: Forbidden; Reason: %s]", op, reason))
}

// subscription is one active subscription.
type subscription struct {
	id          string
	resource    string // as the client gave it
	changeType  string // as the client gave it
	changes     map[string]bool
	notifyURL   string
	lifeURL     string
	clientState *string
	exp         time.Time
	appID       string
	creator     string
	tenant      string
	tls         string
	immutable   bool // Prefer: IdType="ImmutableId" at creation
	t           target
	mailbox     string // user id, for Outlook resources
	created     time.Time

	// Reauthorization (change-notifications-lifecycle-events): the expiry of
	// the token that last authorized the subscription, when delivery pauses
	// without a reauthorization, and the challenges sent.
	authExp       time.Time
	pauseAt       time.Time
	lastChallenge time.Time
	expiryWarned  bool
	paused        bool
}

const graphTime7 = "2006-01-02T15:04:05.0000000Z"

// json renders the subscription resource; withState false leaves
// clientState null, as List does.
func (s *subscription) json(withState bool) map[string]any {
	var life, state any
	if s.lifeURL != "" {
		life = s.lifeURL
	}
	if withState && s.clientState != nil {
		state = *s.clientState
	}
	return map[string]any{
		"id": s.id, "resource": s.resource, "applicationId": s.appID, "changeType": s.changeType,
		"clientState": state, "notificationUrl": s.notifyURL, "notificationQueryOptions": nil,
		"lifecycleNotificationUrl": life, "expirationDateTime": s.exp.UTC().Format(graphTime7),
		"creatorId": s.creator, "includeResourceData": false, "latestSupportedTlsVersion": s.tls,
		"encryptionCertificate": nil, "encryptionCertificateId": nil, "notificationUrlAppId": nil,
		"notificationContentType": "application/json",
	}
}

// serveSubscriptions handles /v1.0/subscriptions[/{id}[/reauthorize]]; it
// reports whether the path was one of them. Called after authentication.
func (em *Emulator) serveSubscriptions(c *call) bool {
	segs := resourceSegments(strings.TrimPrefix(c.r.URL.EscapedPath(), "/v1.0"))
	if len(segs) == 0 || !strings.EqualFold(segs[0], "subscriptions") || len(segs) > 3 {
		return false
	}
	m := c.r.Method
	switch {
	case len(segs) == 1:
		c.route = "subscriptions"
		switch m {
		case http.MethodPost:
			em.createSubscription(c)
		case http.MethodGet:
			em.listSubscriptions(c)
		default:
			c.fail(http.StatusMethodNotAllowed, "Request_BadRequest", "The method is not allowed on /subscriptions.")
		}
	case len(segs) == 2:
		c.route = "subscriptions/{id}"
		switch m {
		case http.MethodGet:
			em.getSubscription(c, segs[1])
		case http.MethodPatch:
			em.updateSubscription(c, segs[1])
		case http.MethodDelete:
			em.deleteSubscription(c, segs[1])
		default:
			c.fail(http.StatusMethodNotAllowed, "Request_BadRequest", "The method is not allowed on a subscription.")
		}
	case strings.EqualFold(segs[2], "reauthorize") && m == http.MethodPost:
		c.route = "subscriptions/{id}/reauthorize"
		em.reauthorizeSubscription(c, segs[1])
	default:
		c.route = "subscriptions/{id}"
		c.fail(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", segs[len(segs)-1]))
	}
	return true
}

// readBody reads a JSON request body, gzip or not (the Go SDK compresses
// request bodies), into v; on failure it writes msg as a 400.
func (c *call) readBody(v any, msg string) bool {
	var body io.Reader = http.MaxBytesReader(c.w, c.r.Body, 1<<20)
	if strings.EqualFold(c.r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(body)
		if err != nil {
			c.fail(http.StatusBadRequest, "BadRequest", "Invalid gzip request body.")
			return false
		}
		defer zr.Close()
		body = zr
	}
	if err := json.NewDecoder(body).Decode(v); err != nil {
		c.fail(http.StatusBadRequest, "InvalidRequest", msg)
		return false
	}
	return true
}

type subscriptionBody struct {
	ChangeType                *string `json:"changeType"`
	NotificationURL           *string `json:"notificationUrl"`
	LifecycleNotificationURL  *string `json:"lifecycleNotificationUrl"`
	Resource                  *string `json:"resource"`
	ExpirationDateTime        *string `json:"expirationDateTime"`
	ClientState               *string `json:"clientState"`
	LatestSupportedTLSVersion *string `json:"latestSupportedTlsVersion"`
	IncludeResourceData       *bool   `json:"includeResourceData"`
	EncryptionCertificate     *string `json:"encryptionCertificate"`
}

func str0(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// parseChangeType checks a comma-separated changeType against the
// resource's supported types.
func parseChangeType(s string, supported []string) (map[string]bool, string) {
	set := map[string]bool{}
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if !slices.Contains(allChanges, p) {
			return nil, fmt.Sprintf("'%s' is not a valid change type. The supported values are created, updated and deleted.", p)
		}
		if !slices.Contains(supported, p) {
			return nil, fmt.Sprintf("The change type '%s' is not supported for this resource; supported: %s.", p, strings.Join(supported, ", "))
		}
		set[p] = true
	}
	return set, ""
}

// expiration applies the documented rules: under 45 minutes from now is
// set to 45 minutes (subscription resource, "Subscription lifetime"), more
// than the resource's maximum is refused, and Teams resources need a
// lifecycle URL past 1 hour.
func (c *call) expiration(raw string, t target, lifeURL string, now time.Time) (time.Time, bool) {
	exp, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(raw))
	if err != nil {
		c.fail(http.StatusBadRequest, "InvalidRequest", "Could not process subscription creation payload. Are all property names spelled and camelCased properly?")
		return exp, false
	}
	if exp.Before(now.Add(minLife)) {
		exp = now.Add(minLife)
	}
	if exp.After(now.Add(t.maxLife)) {
		c.fail(http.StatusBadRequest, "ExtensionError", fmt.Sprintf("Subscription expiration can only be %d minutes in the future.", int(t.maxLife/time.Minute)))
		return exp, false
	}
	if t.teams && lifeURL == "" && exp.After(now.Add(time.Hour)) {
		c.fail(http.StatusBadRequest, "InvalidRequest", "lifecycleNotificationUrl is a required property for subscription creation on this resource when the expirationDateTime value is set to greater than 1 hour.")
		return exp, false
	}
	return exp, true
}

// checkURL refuses URLs the emulator will not POST to: not http(s), or not
// loopback unless Notifications.AllowRemote. Microsoft requires HTTPS; the
// emulator also accepts http for loopback receivers (test servers).
func (em *Emulator) checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("'%s' is not a valid http(s) URL", raw)
	}
	if loopbackHost(u.Hostname()) {
		return nil
	}
	if !em.cfg.Notifications.AllowRemote {
		return fmt.Errorf("'%s' is not a loopback address; the emulator sends notifications only to loopback unless Notifications.AllowRemote (graphemu -allow-remote) is set", raw)
	}
	if u.Scheme != "https" {
		return fmt.Errorf("'%s' must use HTTPS", raw)
	}
	return nil
}

func loopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func (em *Emulator) createSubscription(c *call) {
	var b subscriptionBody
	if !c.readBody(&b, "Could not process subscription creation payload. Are all property names spelled and camelCased properly?") {
		return
	}
	for _, req := range []struct {
		v    *string
		name string
	}{{b.ChangeType, "changeType"}, {b.NotificationURL, "notificationUrl"}, {b.Resource, "resource"}, {b.ExpirationDateTime, "expirationDateTime"}} {
		if strings.TrimSpace(str0(req.v)) == "" {
			c.fail(http.StatusBadRequest, "InvalidRequest", req.name+" is a required property for subscription creation.")
			return
		}
	}
	if b.ClientState != nil && len(*b.ClientState) > 128 {
		c.fail(http.StatusBadRequest, "InvalidRequest", "The clientState property value exceeds the maximum length of 128 characters.")
		return
	}
	tls := "v1_2"
	if v := str0(b.LatestSupportedTLSVersion); v != "" {
		if !slices.Contains([]string{"v1_0", "v1_1", "v1_2", "v1_3"}, v) {
			c.fail(http.StatusBadRequest, "InvalidRequest", fmt.Sprintf("'%s' is not a valid latestSupportedTlsVersion. The possible values are v1_0, v1_1, v1_2 and v1_3.", v))
			return
		}
		tls = v
	}
	if b.IncludeResourceData != nil && *b.IncludeResourceData {
		if str0(b.EncryptionCertificate) == "" {
			c.fail(http.StatusBadRequest, "InvalidRequest", "encryptionCertificate is a required property when includeResourceData is true.")
		} else {
			c.fail(http.StatusBadRequest, "InvalidRequest", "The emulator does not send notifications with resource data (includeResourceData).")
		}
		return
	}
	t, ok := c.parseTarget(*b.Resource)
	if !ok {
		return
	}
	changes, msg := parseChangeType(*b.ChangeType, t.changes)
	if changes == nil {
		c.fail(http.StatusBadRequest, "InvalidRequest", msg)
		return
	}
	if !t.permitted(c.tok) {
		c.forbidden("Create", "Access is denied. Check credentials and try again.")
		return
	}
	lifeURL := strings.TrimSpace(str0(b.LifecycleNotificationURL))
	now := em.now()
	exp, ok := c.expiration(*b.ExpirationDateTime, t, lifeURL, now)
	if !ok {
		return
	}
	for _, u := range []string{*b.NotificationURL, lifeURL} {
		if u == "" {
			continue
		}
		if err := em.checkURL(u); err != nil {
			c.fail(http.StatusBadRequest, "ValidationError", "Subscription validation request failed. "+upperFirst(err.Error())+".")
			return
		}
	}
	s := &subscription{
		id: newGUID(), resource: *b.Resource, changeType: *b.ChangeType, changes: changes,
		notifyURL: *b.NotificationURL, lifeURL: lifeURL, clientState: b.ClientState, exp: exp,
		appID: c.tok.appid, creator: c.tok.oid, tenant: em.cfg.TenantID, tls: tls,
		immutable: preferImmutable(c.r), t: t, created: now,
	}
	if t.user != nil {
		s.tenant = t.user.tenant
	}
	if t.outlook {
		s.mailbox = t.user.id
	}
	n := em.notifier()
	if status, code, msg := n.admissible(s); status != 0 {
		c.fail(status, code, msg)
		return
	}
	// Graph validates the notification URL, then the lifecycle URL, before
	// it creates the subscription (change-notifications-delivery-webhooks).
	for _, u := range []string{s.notifyURL, s.lifeURL} {
		if u == "" {
			continue
		}
		if code, msg := n.validate(c.r.Context(), u); code != "" {
			c.fail(http.StatusBadRequest, code, msg)
			return
		}
	}
	s.authExp = time.Unix(c.tok.exp, 0)
	if status, code, msg := n.register(s); status != 0 {
		c.fail(status, code, msg)
		return
	}
	c.writeSubscription(http.StatusCreated, s, true)
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func (c *call) writeSubscription(status int, s *subscription, withState bool) {
	em := c.em
	em.ntf.mu.Lock()
	m := s.json(withState)
	em.ntf.mu.Unlock()
	m["@odata.context"] = c.context("subscriptions/$entity")
	b, _ := json.Marshal(m)
	h := c.w.Header()
	h.Set("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
	c.w.WriteHeader(status)
	_, _ = c.w.Write(b)
}

// visible finds a subscription the caller may see: created by the same app
// and, for delegated callers, for the signed-in user (subscription-list).
// It answers 404 otherwise, and 403 when the token lacks the resource's
// read permission (managing needs it as creating does).
func (em *Emulator) visible(c *call, id, op string) *subscription {
	s := em.notifier().get(id)
	if s == nil || s.appID != c.tok.appid || (!c.tok.app && s.creator != c.tok.oid) {
		c.fail(http.StatusNotFound, "ResourceNotFound", "The object was not found.")
		return nil
	}
	em.mu.RLock()
	ok := s.t.permitted(c.tok)
	em.mu.RUnlock()
	if !ok {
		c.forbidden(op, "Access is denied. Check credentials and try again.")
		return nil
	}
	return s
}

func (em *Emulator) getSubscription(c *call, id string) {
	if s := em.visible(c, id, "Get"); s != nil {
		c.writeSubscription(http.StatusOK, s, true)
	}
}

// listSubscriptions lists the caller's app's subscriptions (delegated: for
// the signed-in user only), without clientState, as subscription-list says.
func (em *Emulator) listSubscriptions(c *call) {
	n := em.notifier()
	var out []map[string]any
	n.mu.Lock()
	now := em.now()
	ids := make([]string, 0, len(n.subs))
	for id := range n.subs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		s := n.subs[id]
		if !s.exp.After(now) || s.appID != c.tok.appid || (!c.tok.app && s.creator != c.tok.oid) {
			continue
		}
		out = append(out, s.json(false))
	}
	n.mu.Unlock()
	if out == nil {
		out = []map[string]any{}
	}
	b, _ := json.Marshal(map[string]any{"@odata.context": c.context("subscriptions"), "value": out})
	c.writeJSON(b)
}

func (em *Emulator) updateSubscription(c *call, id string) {
	s := em.visible(c, id, "Update")
	if s == nil {
		return
	}
	var b subscriptionBody
	if !c.readBody(&b, "Could not process subscription update payload. Are all property names spelled and camelCased properly?") {
		return
	}
	if b.LifecycleNotificationURL != nil {
		// change-notifications-lifecycle-events: "You also can't add the
		// lifecycleNotificationUrl property to an existing subscription".
		c.fail(http.StatusBadRequest, "InvalidRequest", "lifecycleNotificationUrl cannot be updated; delete the subscription and create a new one.")
		return
	}
	if str0(b.ExpirationDateTime) == "" && str0(b.NotificationURL) == "" {
		c.fail(http.StatusBadRequest, "InvalidRequest", "Subscription must contain either the 'expirationDateTime' or 'notificationUrl' property and its value.")
		return
	}
	n := em.notifier()
	now := em.now()
	n.mu.Lock()
	exp, lifeURL := s.exp, s.lifeURL
	n.mu.Unlock()
	if v := str0(b.ExpirationDateTime); v != "" {
		var ok bool
		if exp, ok = c.expiration(v, s.t, lifeURL, now); !ok {
			return
		}
	}
	newURL := str0(b.NotificationURL)
	if newURL != "" {
		if err := em.checkURL(newURL); err != nil {
			c.fail(http.StatusBadRequest, "ValidationError", "Subscription validation request failed. "+upperFirst(err.Error())+".")
			return
		}
		if code, msg := n.validate(c.r.Context(), newURL); code != "" {
			c.fail(http.StatusBadRequest, code, msg)
			return
		}
	}
	if !n.update(s, exp, newURL, time.Unix(c.tok.exp, 0)) {
		c.fail(http.StatusNotFound, "ResourceNotFound", "The object was not found.")
		return
	}
	c.writeSubscription(http.StatusOK, s, true)
}

func (em *Emulator) deleteSubscription(c *call, id string) {
	if s := em.visible(c, id, "Delete"); s != nil {
		em.notifier().remove(s.id, false, "")
		c.w.WriteHeader(http.StatusNoContent)
	}
}

// reauthorizeSubscription serves POST /subscriptions/{id}/reauthorize:
// it reauthorizes without extending the expiration (204).
func (em *Emulator) reauthorizeSubscription(c *call, id string) {
	s := em.visible(c, id, "Reauthorize")
	if s == nil {
		return
	}
	n := em.notifier()
	n.mu.Lock()
	exp := s.exp
	n.mu.Unlock()
	if !n.update(s, exp, "", time.Unix(c.tok.exp, 0)) {
		c.fail(http.StatusNotFound, "ResourceNotFound", "The object was not found.")
		return
	}
	c.w.WriteHeader(http.StatusNoContent)
}

// SubscriptionInfo describes an active subscription for tests.
type SubscriptionInfo struct {
	ID                       string    `json:"id"`
	Resource                 string    `json:"resource"`
	ChangeType               string    `json:"changeType"`
	NotificationURL          string    `json:"notificationUrl"`
	LifecycleNotificationURL string    `json:"lifecycleNotificationUrl,omitempty"`
	ClientState              string    `json:"clientState,omitempty"`
	ExpirationDateTime       time.Time `json:"expirationDateTime"`
	ApplicationID            string    `json:"applicationId"`
	CreatorID                string    `json:"creatorId"`
	// Paused is true once delivery paused for want of a reauthorization.
	Paused bool `json:"paused"`
}

// Subscriptions lists the active subscriptions of every app, by id.
func (em *Emulator) Subscriptions() []SubscriptionInfo {
	n := em.notifier()
	n.mu.Lock()
	defer n.mu.Unlock()
	now := em.now()
	out := []SubscriptionInfo{}
	for _, s := range n.subs {
		if !s.exp.After(now) {
			continue
		}
		out = append(out, SubscriptionInfo{ID: s.id, Resource: s.resource, ChangeType: s.changeType,
			NotificationURL: s.notifyURL, LifecycleNotificationURL: s.lifeURL, ClientState: str0(s.clientState),
			ExpirationDateTime: s.exp, ApplicationID: s.appID, CreatorID: s.creator, Paused: s.paused})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

var errNoSubscription = errors.New("emulator: no such subscription")
