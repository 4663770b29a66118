package emulator

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Config describes the tenant the emulator serves and how it misbehaves.
// The zero value is usable: every zero field takes the default documented on
// it, so tests only name what they care about.
type Config struct {
	// Seed makes the tenant deterministic: the same seed gives the same
	// users, folders, messages and the same sequence of mutations.
	Seed int64
	// TenantID is the directory (tenant) GUID; derived from Seed when empty.
	TenantID string
	// Tenants spreads the users over that many home tenants (default 1):
	// user i belongs to tenant i mod Tenants, the first being TenantID and
	// the others derived from Seed. A user's delegated tokens carry their
	// home tenant, as for the users of a multi-tenant app signing in through
	// /organizations; application tokens, admin consent and the directory
	// stay TenantID's.
	Tenants int
	// Users is the number of users (mailboxes); default 5.
	Users int
	// MessagesPerUser is spread over the well-known and nested folders;
	// default 200.
	MessagesPerUser int
	// LazyMessages, when > 0, gives the first user (Users()[0]) one more
	// folder, "Imported archive" below Archive, holding that many messages
	// on top of MessagesPerUser. They are not stored: each is generated
	// from (Seed, its index) by the code that makes the stored messages
	// whenever a page or Get serves it, so a mailbox of a million messages
	// costs almost no memory. They are older than the stored ones (spread
	// over the ten years before them, newest first) and never change:
	// mutations leave the folder alone, so its delta returns them in the
	// initial round and nothing in later rounds. The folder's sizeInBytes is
	// estimated from a sample of 2,000 messages. Truth includes them.
	LazyMessages int
	// EventsPerUser default 40, DriveItemsPerUser default 60, ChatsPerUser
	// default 4, ChatMessagesPerChat default 30, PeoplePerUser default 25,
	// ContactsPerUser default 30.
	EventsPerUser       int
	DriveItemsPerUser   int
	ChatsPerUser        int
	ChatMessagesPerChat int
	PeoplePerUser       int
	ContactsPerUser     int
	// DriveItemsPerLibrary is the number of items of each SharePoint
	// document library (sites.go); default 40.
	DriveItemsPerLibrary int
	// SharedMailboxes makes that many users share their mailbox (mail and
	// calendar) at generation: user i with user i+1, the last with the
	// first. ShareMailbox and UnshareMailbox change shares later.
	SharedMailboxes int
	// Cloud is the national cloud the emulator stands for: global (the
	// default), usgov, usgovdod or china (cloud.go). It sets Graph's
	// resource in tokens and scopes, the sign-in host in issuers and the
	// SharePoint domain.
	Cloud string
	// Apps are the registered Entra applications. Default: one confidential
	// client "graphsync-test-client" with secret "emulator-secret" and the
	// redirect URIs http://localhost:8085/callback (graphsync's default) and
	// http://127.0.0.1:8085/callback.
	Apps []App
	// AccessTokenLifetime defaults to one hour (expires_in 3599).
	AccessTokenLifetime time.Duration
	// RefreshTokenMaxInactive is how long a refresh token may go unused
	// before AADSTS700082; default 90 days as Microsoft documents.
	RefreshTokenMaxInactive time.Duration
	// DeltaTokenLifetime: 0 means delta and skip tokens never expire by age.
	DeltaTokenLifetime time.Duration
	// Throttle holds per-service limits; the zero value is unlimited.
	Throttle Throttle
	// Latency is added to every Graph request.
	Latency Latency
	// MissedChanges makes delta miss the changes Microsoft documents it can
	// miss (missed.go): with immutable ids, a message moved out of a folder
	// and back is reported removed from the folder and not again; about one
	// OneDrive or SharePoint deletion in three comes without a tombstone.
	// The ground truth stays right. Off by default.
	MissedChanges bool
	// PartialUpdates makes Outlook delta rounds return updated items as
	// their id plus the changed properties only, which Microsoft allows
	// ("at least the changed properties").
	PartialUpdates bool
	// Logger receives request and mutation logs; nil discards them.
	Logger *slog.Logger

	// Notifications configures change notifications (subscriptions.go,
	// notify.go): timeouts, retry scale, batching, the per-mailbox limit and
	// whether non-loopback notification URLs are allowed.
	Notifications Notifications
}

// App is a registered Entra application.
type App struct {
	ClientID string
	// Secret is the client secret; empty makes the app a public client that
	// authenticates with PKCE only.
	Secret       string
	RedirectURIs []string
	// SecretExpiresAt, when set and past, makes the secret expired
	// (AADSTS7000222).
	SecretExpiresAt time.Time
	// Roles are the application permissions granted by admin consent and
	// put in app-only tokens. Nil grants every read permission the emulator
	// knows.
	Roles []string
	// Certificates are public certificates (PEM or DER, RSA keys) the app
	// authenticates with: a client_assertion JWT signed with one's private
	// key stands in for the secret (certs.go). An app with certificates and
	// no Secret is confidential all the same.
	Certificates [][]byte
	// NoProtectedAPIs: the app was not granted Teams' protected APIs
	// (learn.microsoft.com/graph/teams-protected-apis), so listing or
	// getting channel messages, replies and chat messages with application
	// permissions answers 403.
	NoProtectedAPIs bool
}

// Latency is a uniformly random delay in [Min, Max] added per Graph request.
type Latency struct {
	Min, Max time.Duration
}

// Throttle holds the per-service limits. A zero limit disables that check.
type Throttle struct {
	// Outlook limits apply per app per mailbox (mail, calendar, contacts,
	// people).
	Outlook OutlookLimits
	// Teams limits apply per app per tenant.
	Teams TeamsLimits
	// Drive limits apply per app per tenant, in SharePoint resource units.
	Drive DriveLimits
	// Directory limits (users) apply per app per tenant, in the identity
	// service's resource units.
	Directory DirectoryLimits
	// ServiceUnavailable is the share (0..1) of throttled responses sent as
	// 503 with Retry-After instead of 429, as SharePoint and Outlook do.
	ServiceUnavailable float64
}

// OutlookLimits: Microsoft documents 10,000 requests per 10 minutes and 4
// concurrent requests per app per mailbox.
type OutlookLimits struct {
	Requests   int
	Window     time.Duration // default 10 minutes when Requests > 0
	Concurrent int
}

// DirectoryLimits: Microsoft documents a budget of resource units per app
// and tenant pair per 10 seconds: 3,500 for tenants under 50 users, 5,000
// up to 500, 8,000 above (throttling-limits, identity and access service).
type DirectoryLimits struct {
	ResourceUnits int
	Window        time.Duration // default 10 seconds when ResourceUnits > 0
}

// TeamsLimits: Microsoft documents 20 requests per second per app per tenant
// for reading chat messages.
type TeamsLimits struct {
	RequestsPerSecond int
}

// DriveLimits: SharePoint documents resource units per minute per app per
// tenant (1,200 for the smallest tenants).
type DriveLimits struct {
	ResourceUnits int
	Window        time.Duration // default one minute when ResourceUnits > 0
}

// Faults injects transport and server failures into Graph responses.
type Faults struct {
	// Routes restricts faults to request paths containing one of these
	// substrings; empty means every Graph (/v1.0/) request.
	Routes []string
	// Rates (0..1) of plain server errors.
	Status500, Status502, Status503, Status504 float64
	// RetryAfter is the share of those 5xx responses that carry a
	// Retry-After header (1 second).
	RetryAfter float64
	// Reset is the rate of connections reset without a response.
	Reset float64
	// Slow is the rate of responses delayed by SlowBy before being served.
	Slow   float64
	SlowBy time.Duration
	// Truncated is the rate of responses whose body is cut short (the
	// connection closes before Content-Length bytes arrive).
	Truncated float64
	// MalformedJSON is the rate of 200 responses whose body is complete but
	// not valid JSON.
	MalformedJSON float64
	// DeltaExpired is the rate of requests carrying a valid delta or skip
	// token answered as if the service had evicted its sync state: 410
	// SyncStateNotFound (Outlook, Teams), 410 resyncRequired with Location
	// (OneDrive), 400 syncStateNotFound (directory). Routes does not apply.
	DeltaExpired float64
	// TokenEndpoint is the rate of /oauth2/v2.0/token requests answered 500
	// server_error or 503 temporarily_unavailable before any grant is
	// redeemed. Routes does not apply.
	TokenEndpoint float64

	// The fields below are switches, not rates: while set they apply to
	// every Graph request matching Routes (every one when Routes is empty),
	// so that a test reproduces exactly one hostile response.

	// LinkOrigin replaces the scheme and authority of @odata.nextLink and
	// @odata.deltaLink (LinkKind picks which) with this origin, such as
	// "https://evil.example": links that leave the service.
	LinkOrigin string
	// LinkDefaultPort writes those links with the request's own scheme and
	// host and the scheme's default port made explicit (http://host:80/…,
	// https://host:443/…).
	LinkDefaultPort bool
	// LinkKind limits LinkOrigin and LinkDefaultPort to "nextLink" or
	// "deltaLink"; empty means both.
	LinkKind string
	// NextLinkLoop makes each page's @odata.nextLink the request's own URL
	// (a last page's @odata.deltaLink becomes such a nextLink): a round that
	// never ends, serving the same page again and again.
	NextLinkLoop bool
	// EmptyPages answers every delta request with a page of no items and an
	// @odata.nextLink carrying a new, valid token each time: an endless
	// chain of distinct empty pages. Once cleared, the last link continues
	// the round where it stood.
	EmptyPages bool
	// Redirect (301, 302, 303, 307 or 308) answers requests with that
	// status and a Location on RedirectTo (default https://evil.example;
	// when it has no path, the request's path and query are appended).
	Redirect   int
	RedirectTo string
	// TokenRedirect, an absolute http(s) URL, answers every
	// /oauth2/v2.0/token request 307 Temporary Redirect (which keeps the
	// method and body, client secret included) with a Location on it, the
	// request's path appended when it has none. Routes does not apply.
	TokenRedirect string
}

// User is a mailbox owner in the emulated tenant.
type User struct {
	ID                string `json:"id"`
	UserPrincipalName string `json:"userPrincipalName"`
	DisplayName       string `json:"displayName"`
	TenantID          string `json:"tenantId"` // the user's home tenant
}

const (
	defaultClientID = "graphsync-test-client"
	defaultSecret   = "emulator-secret"
	// defaultRedirect is graphsync's default GRAPHSYNC_REDIRECT_URL, so a
	// first `graphsync connect` against graphemu needs no flag.
	defaultRedirect = "http://localhost:8085/callback"
	// loopbackRedirect is the same callback by IP literal. Registering both
	// is common during development (learn.microsoft.com/entra/identity-platform/reply-url);
	// Entra matches redirect URIs exactly, so each must be registered.
	loopbackRedirect = "http://127.0.0.1:8085/callback"
)

// DefaultClientID and DefaultSecret are the default app's credentials;
// DefaultRedirectURIs its redirect URIs. graphemu registers a certificate
// on that app.
const (
	DefaultClientID = defaultClientID
	DefaultSecret   = defaultSecret
)

// DefaultRedirectURIs are the default app's redirect URIs.
func DefaultRedirectURIs() []string { return []string{defaultRedirect, loopbackRedirect} }

func (c *Config) setDefaults() {
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	def(&c.Users, 5)
	def(&c.MessagesPerUser, 200)
	def(&c.EventsPerUser, 40)
	def(&c.DriveItemsPerUser, 60)
	def(&c.ChatsPerUser, 4)
	def(&c.ChatMessagesPerChat, 30)
	def(&c.PeoplePerUser, 25)
	def(&c.ContactsPerUser, 30)
	def(&c.DriveItemsPerLibrary, 40)
	if c.TenantID == "" {
		c.TenantID = guidFrom(c.Seed, "tenant")
	}
	def(&c.Tenants, 1)
	if len(c.Apps) == 0 {
		c.Apps = []App{{ClientID: defaultClientID, Secret: defaultSecret, RedirectURIs: DefaultRedirectURIs()}}
	}
	if c.AccessTokenLifetime == 0 {
		c.AccessTokenLifetime = time.Hour
	}
	if c.RefreshTokenMaxInactive == 0 {
		c.RefreshTokenMaxInactive = 90 * 24 * time.Hour
	}
	if c.Throttle.Outlook.Requests > 0 && c.Throttle.Outlook.Window == 0 {
		c.Throttle.Outlook.Window = 10 * time.Minute
	}
	if c.Throttle.Drive.ResourceUnits > 0 && c.Throttle.Drive.Window == 0 {
		c.Throttle.Drive.Window = time.Minute
	}
	if c.Throttle.Directory.ResourceUnits > 0 && c.Throttle.Directory.Window == 0 {
		c.Throttle.Directory.Window = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

func (c *Config) validate() error {
	switch {
	case c.Users < 0:
		return fmt.Errorf("config: Users must not be negative")
	case c.MessagesPerUser < 0 || c.LazyMessages < 0 || c.EventsPerUser < 0 || c.DriveItemsPerUser < 0 || c.ChatsPerUser < 0 ||
		c.ChatMessagesPerChat < 0 || c.PeoplePerUser < 0 || c.ContactsPerUser < 0 || c.DriveItemsPerLibrary < 0:
		return fmt.Errorf("config: per-user volumes must not be negative")
	case c.SharedMailboxes < 0 || c.SharedMailboxes > c.Users || (c.SharedMailboxes > 0 && c.Users < 2):
		return fmt.Errorf("config: SharedMailboxes %d needs between 0 and Users (%d) users, and at least two users", c.SharedMailboxes, c.Users)
	case c.Latency.Max < c.Latency.Min:
		return fmt.Errorf("config: Latency.Max %s is below Latency.Min %s", c.Latency.Max, c.Latency.Min)
	case c.AccessTokenLifetime < time.Second:
		return fmt.Errorf("config: AccessTokenLifetime %s is below one second", c.AccessTokenLifetime)
	}
	if err := validCloud(c.Cloud); err != nil {
		return err
	}
	seen := map[string]bool{}
	for i, a := range c.Apps {
		if a.ClientID == "" {
			return fmt.Errorf("config: Apps[%d].ClientID is empty", i)
		}
		if seen[a.ClientID] {
			return fmt.Errorf("config: Apps[%d].ClientID %q is registered twice", i, a.ClientID)
		}
		seen[a.ClientID] = true
		if _, err := parseCertificates(a.Certificates); err != nil {
			return fmt.Errorf("config: Apps[%d].Certificates: %w", i, err)
		}
	}
	return nil
}

// guidFrom derives a stable GUID from the seed and a label.
func guidFrom(seed int64, label string) string {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(seed))
	h := sha256.Sum256(append(b[:], label...))
	h[6] = (h[6] & 0x0f) | 0x40
	h[8] = (h[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// ThrottleProfile names a set of limits: "none" (unlimited), "outlook"
// (Microsoft's documented limits: 10,000 requests per 10 minutes and 4
// concurrent per app per mailbox, 20 chat requests per second, 1,200 drive
// resource units per minute, 3,500 directory resource units per 10 seconds)
// or "strict" (small limits that make clients meet throttling within
// seconds).
func ThrottleProfile(name string) (Throttle, error) {
	switch name {
	case "", "none":
		return Throttle{}, nil
	case "outlook":
		return Throttle{Outlook: OutlookLimits{Requests: 10000, Window: 10 * time.Minute, Concurrent: 4},
			Teams: TeamsLimits{RequestsPerSecond: 20}, Drive: DriveLimits{ResourceUnits: 1200, Window: time.Minute},
			Directory: DirectoryLimits{ResourceUnits: 3500, Window: 10 * time.Second}}, nil
	case "strict":
		return Throttle{Outlook: OutlookLimits{Requests: 60, Window: 10 * time.Second, Concurrent: 2},
			Teams: TeamsLimits{RequestsPerSecond: 5}, Drive: DriveLimits{ResourceUnits: 60, Window: 10 * time.Second},
			Directory: DirectoryLimits{ResourceUnits: 40, Window: 10 * time.Second}, ServiceUnavailable: 0.1}, nil
	}
	return Throttle{}, fmt.Errorf("unknown throttling profile %q (want none, outlook or strict)", name)
}

// ParseLatency parses "MIN-MAX" (e.g. "100ms-300ms") or a single duration.
func ParseLatency(s string) (Latency, error) {
	if s == "" {
		return Latency{}, nil
	}
	lo, hi, ok := strings.Cut(s, "-")
	if !ok {
		hi = lo
	}
	min, err1 := time.ParseDuration(lo)
	max, err2 := time.ParseDuration(hi)
	if err1 != nil || err2 != nil || max < min {
		return Latency{}, fmt.Errorf("parse latency %q: want MIN-MAX durations such as 100ms-300ms", s)
	}
	return Latency{Min: min, Max: max}, nil
}
