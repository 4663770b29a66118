// Package config reads graphsync's settings from the environment and flags
// and validates them, naming every bad value.
package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/graphsync/graphsync/jobs"
	"github.com/graphsync/graphsync/store"
)

// Config is every setting graphsync reads. Secrets (the encryption key, the
// client secret) are never printed: see Redacted.
type Config struct {
	DatabaseURL           string
	EncryptionKey         string
	ClientID              string
	ClientSecret          string
	ClientSecretFile      string
	ClientSecretExpiresAt string
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
	RiverUI                      string
	// GraphTimeout bounds one Graph request (the worker's --graph-timeout);
	// zero keeps the client's default.
	GraphTimeout time.Duration
}

// Var documents one setting; README.md's configuration table lists them all.
type Var struct {
	Env, Flag, Default, Help string
	Secret                   bool
	field                    func(*Config) *string
	// duration, instead of field, holds a positive duration like 5m.
	duration func(*Config) *time.Duration
}

// Vars lists every environment variable graphsync reads.
var Vars = []Var{
	{Env: "DATABASE_URL", Flag: "database-url", Help: "PostgreSQL connection string", field: func(c *Config) *string { return &c.DatabaseURL }},
	{Env: "GRAPHSYNC_ENCRYPTION_KEY", Flag: "encryption-key", Help: "base64 32-byte keys, comma-separated, first encrypts (`graphsync keys generate`)", Secret: true, field: func(c *Config) *string { return &c.EncryptionKey }},
	{Env: "GRAPHSYNC_CLIENT_ID", Flag: "client-id", Help: "Entra application (client) id", field: func(c *Config) *string { return &c.ClientID }},
	{Env: "GRAPHSYNC_CLIENT_SECRET", Flag: "client-secret", Help: "Entra client secret value", Secret: true, field: func(c *Config) *string { return &c.ClientSecret }},
	{Env: "GRAPHSYNC_CLIENT_SECRET_FILE", Flag: "client-secret-file", Help: "file holding the client secret (instead of GRAPHSYNC_CLIENT_SECRET)", field: func(c *Config) *string { return &c.ClientSecretFile }},
	{Env: "GRAPHSYNC_CLIENT_SECRET_EXPIRES_AT", Flag: "client-secret-expires-at", Help: "when the client secret expires (RFC 3339 or YYYY-MM-DD), exported as a metric", field: func(c *Config) *string { return &c.ClientSecretExpiresAt }},
	{Env: "GRAPHSYNC_TENANT", Flag: "tenant", Default: "common", Help: "common, organizations, consumers, or a tenant id/domain", field: func(c *Config) *string { return &c.Tenant }},
	{Env: "GRAPHSYNC_REDIRECT_URL", Flag: "redirect-url", Default: "http://localhost:8085/callback", Help: "OAuth redirect URI registered on the app", field: func(c *Config) *string { return &c.RedirectURL }},
	{Env: "GRAPHSYNC_GRAPH_URL", Flag: "graph-url", Default: "https://graph.microsoft.com", Help: "Microsoft Graph base URL (national clouds, the emulator)", field: func(c *Config) *string { return &c.GraphURL }},
	{Env: "GRAPHSYNC_LOGIN_URL", Flag: "login-url", Default: "https://login.microsoftonline.com", Help: "identity platform base URL", field: func(c *Config) *string { return &c.LoginURL }},
	{Env: "GRAPHSYNC_HTTP_ADDR", Flag: "http-addr", Default: "127.0.0.1:9464", Help: "worker's HTTP address for /metrics, /healthz, /readyz, /riverui/", field: func(c *Config) *string { return &c.HTTPAddr }},
	{Env: "GRAPHSYNC_SYNC_INTERVAL", Flag: "sync-interval", Default: "5m", Help: "how long after a resource's last successful sync it is synced again (at least 10s)", duration: func(c *Config) *time.Duration { return &c.SyncInterval }},
	{Env: "GRAPHSYNC_CALENDAR_PAST", Flag: "calendar-past", Default: "8760h", Help: "how far back the calendar window reaches (calendarView)", duration: func(c *Config) *time.Duration { return &c.CalendarPast }},
	{Env: "GRAPHSYNC_CALENDAR_FUTURE", Flag: "calendar-future", Default: "8760h", Help: "how far ahead the calendar window reaches", duration: func(c *Config) *time.Duration { return &c.CalendarFuture }},
	{Env: "GRAPHSYNC_LOG_FORMAT", Flag: "log-format", Default: "json", Help: "json, text, or auto (text on a terminal, json otherwise)", field: func(c *Config) *string { return &c.LogFormat }},
	{Env: "GRAPHSYNC_LOG_LEVEL", Flag: "log-level", Default: "info", Help: "debug, info, warn or error", field: func(c *Config) *string { return &c.LogLevel }},
	{Env: "GRAPHSYNC_UI_TOKEN", Flag: "ui-token", Help: "token protecting River UI (bearer token, or the password of HTTP basic auth); required off loopback", Secret: true, field: func(c *Config) *string { return &c.UIToken }},
	{Env: "GRAPHSYNC_RIVER_UI", Flag: "river-ui", Default: "true", Help: "serve River UI at /riverui/ on GRAPHSYNC_HTTP_ADDR (true or false)", field: func(c *Config) *string { return &c.RiverUI }},
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
		if v.duration == nil {
			continue
		}
		d, err := time.ParseDuration(*durations[i])
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("%s %q is not a positive duration like 5m", v.Env, *durations[i])
		}
		*v.duration(c) = d
	}
	return c, nil
}

// Need says which groups of settings a command requires.
type Need struct {
	Database, Keys, App bool
}

// Validate checks the settings a command needs and names every bad value.
func (c *Config) Validate(need Need) error {
	var errs []error
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
		if _, err := c.Secret(); err != nil {
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
	switch c.LogFormat {
	case "json", "text", "auto":
	default:
		bad("GRAPHSYNC_LOG_FORMAT %q is not json, text or auto", c.LogFormat)
	}
	if _, err := c.RiverUIEnabled(); err != nil {
		bad("%v", err)
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		bad("GRAPHSYNC_LOG_LEVEL %q is not debug, info, warn or error", c.LogLevel)
	}
	return errors.Join(errs...)
}

func checkURL(errs *[]error, name, raw string) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		*errs = append(*errs, fmt.Errorf("%s %q is not an http(s) URL", name, raw))
	}
}

// Secret returns the client secret from GRAPHSYNC_CLIENT_SECRET or the file
// GRAPHSYNC_CLIENT_SECRET_FILE names; the error never contains the secret.
func (c *Config) Secret() (string, error) {
	if c.ClientSecret != "" && c.ClientSecretFile != "" {
		return "", errors.New("set only one of GRAPHSYNC_CLIENT_SECRET and GRAPHSYNC_CLIENT_SECRET_FILE")
	}
	if c.ClientSecretFile != "" {
		b, err := os.ReadFile(c.ClientSecretFile)
		if err != nil {
			return "", fmt.Errorf("GRAPHSYNC_CLIENT_SECRET_FILE: %w", err)
		}
		s := strings.TrimSpace(string(b))
		if s == "" {
			return "", fmt.Errorf("GRAPHSYNC_CLIENT_SECRET_FILE %s is empty", c.ClientSecretFile)
		}
		return s, nil
	}
	if c.ClientSecret == "" {
		return "", errors.New("GRAPHSYNC_CLIENT_SECRET (or GRAPHSYNC_CLIENT_SECRET_FILE) is not set")
	}
	return c.ClientSecret, nil
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
func (c *Config) RiverUIEnabled() (bool, error) {
	switch strings.ToLower(c.RiverUI) {
	case "true", "1", "yes", "on":
		return true, nil
	case "false", "0", "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("GRAPHSYNC_RIVER_UI %q is neither true nor false", c.RiverUI)
}

// Keyring parses the encryption key.
func (c *Config) Keyring() (*store.Keyring, error) { return store.ParseKeyring(c.EncryptionKey) }

// Redacted lists every setting with secrets masked, for `config check`.
func (c *Config) Redacted() [][2]string {
	var out [][2]string
	for _, v := range Vars {
		val := ""
		if v.field != nil {
			val = *v.field(c)
		} else {
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
