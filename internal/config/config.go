// Package config reads graphsync's settings from the environment and flags
// and validates them, naming every bad value.
package config

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/identity"
	"github.com/graphsync/graphsync/jobs"
	"github.com/graphsync/graphsync/store"
)

// Config is every setting graphsync reads. Secrets (the encryption key, the
// client secret, the UI token) are never printed: see Redacted. Each may
// be read from a file instead (the _FILE variables), which keeps it out of
// the process's command line and environment.
type Config struct {
	DatabaseURL           string
	EncryptionKey         string
	EncryptionKeyFile     string
	ClientID              string
	ClientSecret          string
	ClientSecretFile      string
	ClientSecretExpiresAt string
	ClientCertificateFile string
	Tenant                string
	RedirectURL           string
	GraphURL              string
	LoginURL              string
	HTTPAddr              string
	SyncInterval          time.Duration
	// CalendarPast and CalendarFuture size the calendar window around today.
	CalendarPast, CalendarFuture time.Duration
	LogFormat                    string
	LogLevel                     string
	UIToken                      string
	UITokenFile                  string
	RiverUI                      string
	// NotifyURL is the public base URL Graph posts change notifications
	// to; empty leaves them off.
	NotifyURL string
	// NotifyAddr is where the notification endpoint listens.
	NotifyAddr string
	// SubscribedInterval is how often a resource Graph notifies about is
	// polled as a safety net.
	SubscribedInterval time.Duration
	// MaxJobDuration bounds one sync job; RescueAfter is how long a job of
	// a worker that is gone waits for River to hand it to another (zero:
	// derived from MaxJobDuration).
	MaxJobDuration, RescueAfter time.Duration
	// GraphTimeout bounds one Graph request (the worker's --graph-timeout);
	// zero keeps the client's default.
	GraphTimeout time.Duration
	// PageSize is the odata.maxpagesize of Outlook's collections: a size
	// for all of them, resource=size for one (see PageSizes).
	PageSize string

	// Warnings are what Load noticed and a command should tell: a secret
	// given as a flag, visible to every user of the machine.
	Warnings []string
	// fileErrs are the secret files Load could not read, for Validate.
	fileErrs []error
	// ChangesRetention is how long the change feed keeps entries;
	// ChangesPruneConsumed ("true") also prunes what every webhook
	// endpoint received.
	ChangesRetention     time.Duration
	ChangesPruneConsumed string
	// AttachmentContent ("true") keeps attachments' content for
	// connections without a setting of their own, up to
	// AttachmentMaxBytes bytes each.
	AttachmentContent, AttachmentMaxBytes string
	// ReconcileEvery is how often each stream is reconciled.
	ReconcileEvery time.Duration
	// APIURL is the public base URL of the API for apps (hosted connect
	// sessions' links and callback); empty leaves hosted connect off.
	APIURL string
	// ConnectReturnURLs is the comma-separated allow-list of the URLs
	// hosted connect sessions may send users back to.
	ConnectReturnURLs string
	// APIMaxWait is how long a proxied request waits for a Retry-After
	// window when it does not say.
	APIMaxWait time.Duration
	// TeamsBudget and DriveBudget are the tenant budgets every worker
	// process shares: Teams requests per second, OneDrive and SharePoint
	// resource units per minute, per tenant.
	TeamsBudget, DriveBudget, DirectoryBudget string
	// Sites are the SharePoint sites whose document libraries the sites
	// resource syncs: URLs or site ids, comma-separated.
	Sites string
}

// Var documents one setting; README.md's configuration table lists them all.
type Var struct {
	Env, Flag, Default, Help string
	Secret                   bool
	field                    func(*Config) *string
	// duration, instead of field, holds a positive duration like 5m;
	// unset when Default is empty and no value is given.
	duration func(*Config) *time.Duration
	// fileOf names the secret variable a _FILE variable reads from a file.
	fileOf string
}

// Vars lists every environment variable graphsync reads.
var Vars = []Var{
	{Env: "DATABASE_URL", Flag: "database-url", Help: "PostgreSQL connection string", field: func(c *Config) *string { return &c.DatabaseURL }},
	{Env: "GRAPHSYNC_ENCRYPTION_KEY", Flag: "encryption-key", Help: "base64 32-byte keys, comma-separated, first encrypts (`graphsync keys generate`)", Secret: true, field: func(c *Config) *string { return &c.EncryptionKey }},
	{Env: "GRAPHSYNC_ENCRYPTION_KEY_FILE", Flag: "encryption-key-file", Help: "file holding the encryption keys (instead of GRAPHSYNC_ENCRYPTION_KEY)", fileOf: "GRAPHSYNC_ENCRYPTION_KEY", field: func(c *Config) *string { return &c.EncryptionKeyFile }},
	{Env: "GRAPHSYNC_CLIENT_ID", Flag: "client-id", Help: "Entra application (client) id", field: func(c *Config) *string { return &c.ClientID }},
	{Env: "GRAPHSYNC_CLIENT_SECRET", Flag: "client-secret", Help: "Entra client secret value", Secret: true, field: func(c *Config) *string { return &c.ClientSecret }},
	{Env: "GRAPHSYNC_CLIENT_SECRET_FILE", Flag: "client-secret-file", Help: "file holding the client secret (instead of GRAPHSYNC_CLIENT_SECRET)", fileOf: "GRAPHSYNC_CLIENT_SECRET", field: func(c *Config) *string { return &c.ClientSecretFile }},
	{Env: "GRAPHSYNC_CLIENT_SECRET_EXPIRES_AT", Flag: "client-secret-expires-at", Help: "when the client secret expires (RFC 3339 or YYYY-MM-DD), exported as a metric", field: func(c *Config) *string { return &c.ClientSecretExpiresAt }},
	{Env: "GRAPHSYNC_CLIENT_CERTIFICATE_FILE", Flag: "client-certificate-file", Help: "PEM file with the app's certificate and its unencrypted RSA private key, to sign in with instead of the client secret; its expiry is exported as the secret's", field: func(c *Config) *string { return &c.ClientCertificateFile }},
	{Env: "GRAPHSYNC_TENANT", Flag: "tenant", Default: "common", Help: "common, organizations, consumers, or a tenant id/domain", field: func(c *Config) *string { return &c.Tenant }},
	{Env: "GRAPHSYNC_REDIRECT_URL", Flag: "redirect-url", Default: "http://localhost:8085/callback", Help: "OAuth redirect URI registered on the app", field: func(c *Config) *string { return &c.RedirectURL }},
	{Env: "GRAPHSYNC_GRAPH_URL", Flag: "graph-url", Default: "https://graph.microsoft.com", Help: "Microsoft Graph base URL (national clouds, the emulator)", field: func(c *Config) *string { return &c.GraphURL }},
	{Env: "GRAPHSYNC_LOGIN_URL", Flag: "login-url", Default: "https://login.microsoftonline.com", Help: "identity platform base URL", field: func(c *Config) *string { return &c.LoginURL }},
	{Env: "GRAPHSYNC_HTTP_ADDR", Flag: "http-addr", Default: "127.0.0.1:9464", Help: "worker's HTTP address for /metrics, /healthz, /readyz, /riverui/ and the API for apps (/v1/, /connect/)", field: func(c *Config) *string { return &c.HTTPAddr }},
	{Env: "GRAPHSYNC_SYNC_INTERVAL", Flag: "sync-interval", Default: "5m", Help: "how long after a resource's last successful sync it is synced again (at least 10s)", duration: func(c *Config) *time.Duration { return &c.SyncInterval }},
	{Env: "GRAPHSYNC_NOTIFY_URL", Flag: "notify-url", Help: "public https base URL Graph posts change notifications to (`/notifications`, `/lifecycle` below it); empty: no change notifications, every resource is polled every GRAPHSYNC_SYNC_INTERVAL", field: func(c *Config) *string { return &c.NotifyURL }},
	{Env: "GRAPHSYNC_NOTIFY_ADDR", Flag: "notify-addr", Default: "127.0.0.1:9465", Help: "address the change-notification endpoint listens on (put a TLS-terminating proxy in front; only this address is meant to be reachable from the internet)", field: func(c *Config) *string { return &c.NotifyAddr }},
	{Env: "GRAPHSYNC_SUBSCRIBED_INTERVAL", Flag: "subscribed-interval", Default: "6h", Help: "how often a resource with an active change-notification subscription is polled as a safety net", duration: func(c *Config) *time.Duration { return &c.SubscribedInterval }},
	{Env: "GRAPHSYNC_CALENDAR_PAST", Flag: "calendar-past", Default: "8760h", Help: "how far back the calendar window reaches (calendarView)", duration: func(c *Config) *time.Duration { return &c.CalendarPast }},
	{Env: "GRAPHSYNC_CALENDAR_FUTURE", Flag: "calendar-future", Default: "8760h", Help: "how far ahead the calendar window reaches", duration: func(c *Config) *time.Duration { return &c.CalendarFuture }},
	{Env: "GRAPHSYNC_PAGE_SIZE", Flag: "page-size", Default: DefaultPageSize, Help: "items per Graph page (Prefer: odata.maxpagesize, 1 to 1000) of the resources that honour it (mail, contacts, calendar): a size for all, resource=size for one, comma-separated (e.g. 250,calendar=100)", field: func(c *Config) *string { return &c.PageSize }},
	{Env: "GRAPHSYNC_LOG_FORMAT", Flag: "log-format", Default: "json", Help: "json, text, or auto (text on a terminal, json otherwise)", field: func(c *Config) *string { return &c.LogFormat }},
	{Env: "GRAPHSYNC_LOG_LEVEL", Flag: "log-level", Default: "info", Help: "debug, info, warn or error", field: func(c *Config) *string { return &c.LogLevel }},
	{Env: "GRAPHSYNC_UI_TOKEN", Flag: "ui-token", Help: "token protecting River UI (bearer token, or the password of HTTP basic auth); required off loopback", Secret: true, field: func(c *Config) *string { return &c.UIToken }},
	{Env: "GRAPHSYNC_UI_TOKEN_FILE", Flag: "ui-token-file", Help: "file holding the River UI token (instead of GRAPHSYNC_UI_TOKEN)", fileOf: "GRAPHSYNC_UI_TOKEN", field: func(c *Config) *string { return &c.UITokenFile }},
	{Env: "GRAPHSYNC_RIVER_UI", Flag: "river-ui", Default: "true", Help: "serve River UI at /riverui/ on GRAPHSYNC_HTTP_ADDR (true or false)", field: func(c *Config) *string { return &c.RiverUI }},
	{Env: "GRAPHSYNC_MAX_JOB_DURATION", Flag: "max-job-duration", Default: "5m", Help: "how long one sync job runs before it checkpoints and continues in a new one; River cancels it a minute later (the job timeout)", duration: func(c *Config) *time.Duration { return &c.MaxJobDuration }},
	{Env: "GRAPHSYNC_RESCUE_AFTER", Flag: "rescue-after", Help: "how long after it started a job of a worker that is gone (killed, host lost) waits before River hands it to another worker; longer than the job timeout (default: the job timeout plus 1m)", duration: func(c *Config) *time.Duration { return &c.RescueAfter }},
	{Env: "GRAPHSYNC_CHANGES_RETENTION", Flag: "changes-retention", Default: "168h", Help: "how long the change feed keeps what changed (a reader further behind is refused)", duration: func(c *Config) *time.Duration { return &c.ChangesRetention }},
	{Env: "GRAPHSYNC_API_URL", Flag: "api-url", Help: "public base URL browsers reach the worker's API at (GRAPHSYNC_HTTP_ADDR behind your proxy); hosted connect sessions need it, and <URL>/connect/callback must be a redirect URI of the app registration; empty: no hosted connect", field: func(c *Config) *string { return &c.APIURL }},
	{Env: "GRAPHSYNC_CONNECT_RETURN_URLS", Flag: "connect-return-urls", Help: "comma-separated URLs hosted connect sessions may send users back to (a return URL needs the origin of one and a path under it)", field: func(c *Config) *string { return &c.ConnectReturnURLs }},
	{Env: "GRAPHSYNC_API_MAX_WAIT", Flag: "api-max-wait", Default: "5s", Help: "how long a request through the Graph proxy waits for a Retry-After window by default (at most 1m; requests may say with the Graphsync-Max-Wait header); longer ones are answered 429 with Retry-After", duration: func(c *Config) *time.Duration { return &c.APIMaxWait }},
	{Env: "GRAPHSYNC_TEAMS_BUDGET", Flag: "teams-budget", Default: "20", Help: "Teams requests per second per tenant, shared by every worker process (Microsoft allows 20 chat message reads per second per app and tenant)", field: func(c *Config) *string { return &c.TeamsBudget }},
	{Env: "GRAPHSYNC_DRIVE_BUDGET", Flag: "drive-budget", Default: "1200", Help: "OneDrive and SharePoint resource units per minute per tenant, shared by every worker process (Microsoft allows 1,200 for tenants of up to 1,000 licences, 2,400, 3,600, 4,800 and 6,000 for larger ones)", field: func(c *Config) *string { return &c.DriveBudget }},
	{Env: "GRAPHSYNC_DIRECTORY_BUDGET", Flag: "directory-budget", Default: "3500", Help: "directory (users, groups) resource units per 10 seconds per tenant, shared by every worker process (Microsoft allows 3,500 for tenants of under 50 users, 5,000 up to 500, 8,000 above)", field: func(c *Config) *string { return &c.DirectoryBudget }},
	{Env: "GRAPHSYNC_CHANGES_PRUNE_CONSUMED", Flag: "changes-prune-consumed", Default: "false", Help: "also prune changes every webhook endpoint received, before the retention (true or false)", field: func(c *Config) *string { return &c.ChangesPruneConsumed }},
	{Env: "GRAPHSYNC_ATTACHMENT_CONTENT", Flag: "attachment-content", Default: "false", Help: "keep mail attachments' content in PostgreSQL (large objects, with a SHA-256) for connections without a setting of their own (connections.attachment_content); metadata is always kept (true or false)", field: func(c *Config) *string { return &c.AttachmentContent }},
	{Env: "GRAPHSYNC_RECONCILE_EVERY", Flag: "reconcile-every", Default: "168h", Help: "how often each stream's ids are listed and compared with its rows, repairing what delta missed (a pass per stream, spread over the period)", duration: func(c *Config) *time.Duration { return &c.ReconcileEvery }},
	{Env: "GRAPHSYNC_SITES", Flag: "sites", Help: "SharePoint sites whose document libraries connections with the sites resource sync, comma-separated: site URLs (https://contoso.sharepoint.com/sites/Sales) or site ids (contoso.sharepoint.com,{site collection id},{site id}); empty: none", field: func(c *Config) *string { return &c.Sites }},
	{Env: "GRAPHSYNC_ATTACHMENT_MAX_BYTES", Flag: "attachment-max-bytes", Default: "157286400", Help: "largest attachment whose content is kept, in bytes (default 150 MiB, Outlook's largest); larger ones are marked skipped", field: func(c *Config) *string { return &c.AttachmentMaxBytes }},
}

// Load reads the environment (getenv, usually os.Getenv), then lets flags
// parsed from args override it. It does not validate.
func Load(fs *flag.FlagSet, args []string, getenv func(string) string) (*Config, error) {
	c := &Config{}
	durations := map[int]*string{}
	for i, v := range Vars {
		val := getenv(v.Env)
		if val == "" {
			val = v.Default
		}
		if v.duration != nil {
			s := val
			durations[i] = &s
			fs.StringVar(&s, v.Flag, val, v.Help)
			continue
		}
		p := v.field(c)
		*p = val
		fs.StringVar(p, v.Flag, val, v.Help)
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	for i, v := range Vars {
		if v.duration == nil || (v.Default == "" && *durations[i] == "") {
			continue
		}
		d, err := time.ParseDuration(*durations[i])
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("%s %q is not a positive duration like 5m", v.Env, *durations[i])
		}
		*v.duration(c) = d
	}
	fs.Visit(func(f *flag.Flag) {
		for _, v := range Vars {
			if v.Secret && v.Flag == f.Name && f.Value.String() != "" {
				c.Warnings = append(c.Warnings, fmt.Sprintf("--%s puts a secret on the command line, where every user of the machine can read it (ps, /proc); set %s or %s_FILE instead",
					v.Flag, v.Env, v.Env))
			}
		}
	})
	c.readSecretFiles()
	return c, nil
}

// readSecretFiles sets each secret given as a file (a _FILE variable) from
// the file's content, trimmed; what goes wrong waits for Validate.
func (c *Config) readSecretFiles() {
	for _, v := range Vars {
		path := ""
		if v.fileOf != "" {
			path = *v.field(c)
		}
		if path == "" {
			continue
		}
		secret := c.field(v.fileOf)
		if *secret != "" {
			c.fileErrs = append(c.fileErrs, fmt.Errorf("set only one of %s and %s", v.fileOf, v.Env))
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			c.fileErrs = append(c.fileErrs, fmt.Errorf("%s: %w", v.Env, err))
			continue
		}
		if *secret = strings.TrimSpace(string(b)); *secret == "" {
			c.fileErrs = append(c.fileErrs, fmt.Errorf("%s %s is empty", v.Env, path))
		}
	}
}

// field returns the string setting of the variable env.
func (c *Config) field(env string) *string {
	for _, v := range Vars {
		if v.Env == env && v.field != nil {
			return v.field(c)
		}
	}
	panic("config: no string setting " + env)
}

// Need says which groups of settings a command requires.
type Need struct {
	Database, Keys, App bool
}

// Validate checks the settings a command needs and names every bad value.
func (c *Config) Validate(need Need) error {
	errs := slices.Clone(c.fileErrs)
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if need.Database && c.DatabaseURL == "" {
		bad("DATABASE_URL is not set")
	}
	if need.Keys {
		if _, err := store.ParseKeyring(c.EncryptionKey); err != nil {
			bad("%v", err)
		}
	}
	if need.App {
		if c.ClientID == "" {
			bad("GRAPHSYNC_CLIENT_ID is not set")
		}
		if _, _, err := c.Credentials(); err != nil {
			bad("%v", err)
		}
		checkURL(&errs, "GRAPHSYNC_REDIRECT_URL", c.RedirectURL)
		checkURL(&errs, "GRAPHSYNC_GRAPH_URL", c.GraphURL)
		checkURL(&errs, "GRAPHSYNC_LOGIN_URL", c.LoginURL)
		if c.Tenant == "" || strings.ContainsAny(c.Tenant, "/?# ") {
			bad("GRAPHSYNC_TENANT %q is not common, organizations, consumers, a tenant id or a domain", c.Tenant)
		}
	}
	if c.SyncInterval > 0 && c.SyncInterval < jobs.MinSyncInterval {
		bad("GRAPHSYNC_SYNC_INTERVAL %s is shorter than %s, the shortest interval the scheduler keeps (River makes a scheduled job available within about 5 s)",
			c.SyncInterval, jobs.MinSyncInterval)
	}
	if c.ClientSecretExpiresAt != "" {
		if _, err := c.SecretExpiry(); err != nil {
			bad("%v", err)
		}
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); c.HTTPAddr != "" && err != nil {
		bad("GRAPHSYNC_HTTP_ADDR %q is not host:port", c.HTTPAddr)
	}
	if c.NotifyURL != "" {
		u, err := url.Parse(c.NotifyURL)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			bad("GRAPHSYNC_NOTIFY_URL %q is not an http(s) URL", c.NotifyURL)
		case u.Scheme != "https" && !loopbackHost(u.Hostname()):
			bad("GRAPHSYNC_NOTIFY_URL %q must be https: Graph posts notifications only to https endpoints", c.NotifyURL)
		case u.RawQuery != "" || u.Fragment != "":
			bad("GRAPHSYNC_NOTIFY_URL %q must not carry a query or fragment", c.NotifyURL)
		}
		if _, _, err := net.SplitHostPort(c.NotifyAddr); err != nil {
			bad("GRAPHSYNC_NOTIFY_ADDR %q is not host:port", c.NotifyAddr)
		}
	}
	if c.APIURL != "" {
		u, err := url.Parse(c.APIURL)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			bad("GRAPHSYNC_API_URL %q is not an http(s) URL", c.APIURL)
		case u.Scheme != "https" && !loopbackHost(u.Hostname()):
			bad("GRAPHSYNC_API_URL %q must be https: the identity platform redirects only to https (or localhost) URIs", c.APIURL)
		case u.RawQuery != "" || u.Fragment != "":
			bad("GRAPHSYNC_API_URL %q must not carry a query or fragment", c.APIURL)
		}
	}
	for _, r := range c.ReturnURLs() {
		if u, err := url.Parse(r); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			bad("GRAPHSYNC_CONNECT_RETURN_URLS: %q is not an http(s) URL without query or fragment", r)
		}
	}
	if c.APIMaxWait > time.Minute {
		bad("GRAPHSYNC_API_MAX_WAIT %s is longer than 1m", c.APIMaxWait)
	}
	switch c.LogFormat {
	case "json", "text", "auto":
	default:
		bad("GRAPHSYNC_LOG_FORMAT %q is not json, text or auto", c.LogFormat)
	}
	if _, err := c.RiverUIEnabled(); err != nil {
		bad("%v", err)
	}
	if _, err := c.PruneConsumed(); err != nil {
		bad("%v", err)
	}
	if _, _, err := c.Attachments(); err != nil {
		bad("%v", err)
	}
	if _, err := c.PageSizes(); err != nil {
		bad("%v", err)
	}
	if _, err := c.Budgets(); err != nil {
		bad("%v", err)
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		bad("GRAPHSYNC_LOG_LEVEL %q is not debug, info, warn or error", c.LogLevel)
	}
	if timeout := jobs.JobTimeout(c.maxJobDuration()); c.RescueAfter != 0 && c.RescueAfter <= timeout {
		bad("GRAPHSYNC_RESCUE_AFTER %s is not longer than the sync job timeout %s (GRAPHSYNC_MAX_JOB_DURATION %s and a minute): River would hand jobs still running on live workers to others",
			c.RescueAfter, timeout, c.maxJobDuration())
	}
	return errors.Join(errs...)
}

// ReturnURLs splits GRAPHSYNC_CONNECT_RETURN_URLS.
func (c *Config) ReturnURLs() []string {
	var out []string
	for _, r := range strings.Split(c.ConnectReturnURLs, ",") {
		if r = strings.TrimSpace(r); r != "" {
			out = append(out, r)
		}
	}
	return out
}

// loopbackHost reports whether host names this machine.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c *Config) maxJobDuration() time.Duration {
	return cmp.Or(c.MaxJobDuration, jobs.DefaultMaxJobDuration)
}

// Jobs is the jobs configuration the settings make: the job duration and
// the rescue delay (the rest is the caller's).
func (c *Config) Jobs() jobs.Config {
	return jobs.Config{SyncInterval: c.SyncInterval, MaxJobDuration: c.MaxJobDuration, RescueAfter: c.RescueAfter,
		ChangesRetention: c.ChangesRetention}
}

func checkURL(errs *[]error, name, raw string) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		*errs = append(*errs, fmt.Errorf("%s %q is not an http(s) URL", name, raw))
	}
}

// Secret returns the client secret, from GRAPHSYNC_CLIENT_SECRET or the
// file GRAPHSYNC_CLIENT_SECRET_FILE names; the error never contains it.
func (c *Config) Secret() (string, error) {
	if c.ClientSecret == "" && c.ClientSecretFile == "" {
		return "", errors.New("GRAPHSYNC_CLIENT_SECRET (or GRAPHSYNC_CLIENT_SECRET_FILE) is not set")
	}
	if c.ClientSecret == "" {
		return "", fmt.Errorf("GRAPHSYNC_CLIENT_SECRET_FILE %s holds no secret", c.ClientSecretFile)
	}
	return c.ClientSecret, nil
}

// Credentials returns how the app proves itself: the certificate
// GRAPHSYNC_CLIENT_CERTIFICATE_FILE names when set, else the client
// secret. Errors never contain the secret or the key.
func (c *Config) Credentials() (secret string, cert *identity.Certificate, err error) {
	if c.ClientCertificateFile == "" {
		secret, err = c.Secret()
		return secret, nil, err
	}
	data, err := os.ReadFile(c.ClientCertificateFile)
	if err != nil {
		return "", nil, fmt.Errorf("GRAPHSYNC_CLIENT_CERTIFICATE_FILE: %w", err)
	}
	if cert, err = identity.ParseCertificate(data); err != nil {
		return "", nil, fmt.Errorf("GRAPHSYNC_CLIENT_CERTIFICATE_FILE %s: %w", c.ClientCertificateFile, err)
	}
	return "", cert, nil
}

// CredentialExpiry is when the app's credential expires: the certificate's
// end of validity, else GRAPHSYNC_CLIENT_SECRET_EXPIRES_AT (zero when
// unset). certificate says which it is.
func (c *Config) CredentialExpiry() (expiry time.Time, certificate bool, err error) {
	if c.ClientCertificateFile != "" {
		_, cert, err := c.Credentials()
		if err != nil {
			return time.Time{}, true, err
		}
		return cert.NotAfter(), true, nil
	}
	expiry, err = c.SecretExpiry()
	return expiry, false, err
}

// SecretExpiry parses GRAPHSYNC_CLIENT_SECRET_EXPIRES_AT; zero when unset.
func (c *Config) SecretExpiry() (time.Time, error) {
	if c.ClientSecretExpiresAt == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02"} {
		if t, err := time.Parse(layout, c.ClientSecretExpiresAt); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("GRAPHSYNC_CLIENT_SECRET_EXPIRES_AT %q is neither RFC 3339 nor YYYY-MM-DD", c.ClientSecretExpiresAt)
}

// RiverUIEnabled parses GRAPHSYNC_RIVER_UI.
func (c *Config) RiverUIEnabled() (bool, error) { return parseBool("GRAPHSYNC_RIVER_UI", c.RiverUI) }

// PruneConsumed parses GRAPHSYNC_CHANGES_PRUNE_CONSUMED.
func (c *Config) PruneConsumed() (bool, error) {
	return parseBool("GRAPHSYNC_CHANGES_PRUNE_CONSUMED", c.ChangesPruneConsumed)
}

// Attachments parses GRAPHSYNC_ATTACHMENT_CONTENT and
// GRAPHSYNC_ATTACHMENT_MAX_BYTES.
func (c *Config) Attachments() (content bool, maxBytes int64, err error) {
	if content, err = parseBool("GRAPHSYNC_ATTACHMENT_CONTENT", c.AttachmentContent); err != nil {
		return false, 0, err
	}
	maxBytes, err = strconv.ParseInt(c.AttachmentMaxBytes, 10, 64)
	if err != nil || maxBytes <= 0 {
		return false, 0, fmt.Errorf("GRAPHSYNC_ATTACHMENT_MAX_BYTES %q is not a positive number of bytes", c.AttachmentMaxBytes)
	}
	return content, maxBytes, nil
}

func parseBool(name, value string) (bool, error) {
	switch strings.ToLower(value) {
	case "true", "1", "yes", "on":
		return true, nil
	case "false", "0", "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("%s %q is neither true nor false", name, value)
}

// DefaultPageSize is GRAPHSYNC_PAGE_SIZE's default, chosen from the
// ingest and memory benchmarks (docs/benchmarks.md, "Choices measured").
const DefaultPageSize = "250"

// maxPageSize is the largest page Outlook serves.
const maxPageSize = 1000

// PageSizes parses GRAPHSYNC_PAGE_SIZE: the page size of every resource
// that honours odata.maxpagesize, a later entry overriding an earlier one.
func (c *Config) PageSizes() (map[*graphsync.Resource]int, error) {
	const name = "GRAPHSYNC_PAGE_SIZE"
	var paged []*graphsync.Resource
	for _, r := range graphsync.All() {
		if r.Service() == graphsync.Outlook {
			paged = append(paged, r)
		}
	}
	out := map[*graphsync.Resource]int{}
	for _, part := range strings.Split(c.PageSize, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		key, val, one := strings.Cut(part, "=")
		if !one {
			key, val = "", part
		}
		n, err := strconv.Atoi(strings.TrimSpace(val))
		if err != nil || n < 1 || n > maxPageSize {
			return nil, fmt.Errorf("%s %q: %q is not a page size from 1 to %d", name, c.PageSize, strings.TrimSpace(val), maxPageSize)
		}
		targets := paged
		if one {
			r, err := graphsync.ParseResource(strings.TrimSpace(key))
			if err != nil || !slices.Contains(paged, r) {
				return nil, fmt.Errorf("%s %q: %q is not a resource whose page size can be chosen (%s)", name, c.PageSize,
					strings.TrimSpace(key), strings.Join(graphsync.Names(paged), ", "))
			}
			targets = []*graphsync.Resource{r}
		}
		for _, r := range targets {
			out[r] = n
		}
	}
	return out, nil
}

// Budgets is the tenant budgets every worker process shares.
type Budgets struct {
	TeamsPerSecond, DriveUnitsPerMinute, DirectoryUnitsPer10s int
}

// Budgets parses GRAPHSYNC_TEAMS_BUDGET, GRAPHSYNC_DRIVE_BUDGET and
// GRAPHSYNC_DIRECTORY_BUDGET; unset values take the defaults.
func (c *Config) Budgets() (Budgets, error) {
	teams, err1 := parseBudget("GRAPHSYNC_TEAMS_BUDGET", cmp.Or(c.TeamsBudget, "20"))
	drive, err2 := parseBudget("GRAPHSYNC_DRIVE_BUDGET", cmp.Or(c.DriveBudget, "1200"))
	dir, err3 := parseBudget("GRAPHSYNC_DIRECTORY_BUDGET", cmp.Or(c.DirectoryBudget, "3500"))
	return Budgets{TeamsPerSecond: teams, DriveUnitsPerMinute: drive, DirectoryUnitsPer10s: dir}, errors.Join(err1, err2, err3)
}

func parseBudget(name, value string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(value))
	if err != nil || n < 2 {
		return 0, fmt.Errorf("%s %q is not a whole number of at least 2", name, value)
	}
	return n, nil
}

// Keyring parses the encryption key.
func (c *Config) Keyring() (*store.Keyring, error) { return store.ParseKeyring(c.EncryptionKey) }

// Redacted lists every setting with secrets masked, for `config check`.
func (c *Config) Redacted() [][2]string {
	var out [][2]string
	for _, v := range Vars {
		val := ""
		switch {
		case v.field != nil:
			val = *v.field(c)
		case *v.duration(c) != 0:
			val = v.duration(c).String()
		}
		if v.Secret && val != "" {
			val = "(set, hidden)"
		}
		if v.Env == "DATABASE_URL" {
			val = redactURL(val)
		}
		out = append(out, [2]string{v.Env, val})
	}
	return out
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		if strings.Contains(raw, "password=") {
			return "(set, contains a password)"
		}
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// SelectedSites reads GRAPHSYNC_SITES.
func (c *Config) SelectedSites() ([]graphsync.SiteRef, error) {
	sites, err := graphsync.ParseSites(c.Sites)
	if err != nil {
		return nil, fmt.Errorf("GRAPHSYNC_SITES: %w", err)
	}
	return sites, nil
}
