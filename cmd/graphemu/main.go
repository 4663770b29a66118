// Command graphemu serves the Microsoft Graph and identity platform
// emulator on loopback for demos, manual testing and benchmarks.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/graphsync/graphsync/emulator"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(exitCode(run(ctx, os.Args[1:], os.Stdout), os.Stderr))
}

// exitCode reports err and maps it to the process status: 0 for success
// and for -h (asking for help is not an error), 2 for a bad flag (the flag
// package has printed why), 1 otherwise.
func exitCode(err error, stderr io.Writer) int {
	var bad badFlagError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &bad):
		return 2
	}
	fmt.Fprintln(stderr, "graphemu:", err)
	return 1
}

// badFlagError is a flag the flag package refused and already reported.
type badFlagError struct{ error }

func (e badFlagError) Unwrap() error { return e.error }

// run parses flags, serves until ctx ends, and prints where to point
// graphsync.
func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("graphemu", flag.ContinueOnError)
	var (
		addr        = fs.String("addr", "127.0.0.1:8089", "listen address (loopback unless -allow-remote)")
		allowRemote = fs.Bool("allow-remote", false, "allow a non-loopback listen address and non-loopback notification URLs")
		seed        = fs.Int64("seed", 1, "seed for deterministic data")
		users       = fs.Int("users", 5, "number of users")
		messages    = fs.Int("messages", 200, "messages per user")
		events      = fs.Int("events", 0, "events per user (0 = default)")
		driveItems  = fs.Int("drive-items", 0, "drive items per user (0 = default)")
		chats       = fs.Int("chats", 0, "chats per user (0 = default)")
		chatMsgs    = fs.Int("chat-messages", 0, "messages per chat (0 = default)")
		people      = fs.Int("people", 0, "people per user (0 = default)")
		contacts    = fs.Int("contacts", 0, "contacts per user (0 = default)")
		profile     = fs.String("profile", "none", "throttling profile: none, outlook (Microsoft's documented limits) or strict")
		latency     = fs.String("latency", "", "latency added per Graph request, MIN-MAX (e.g. 100ms-300ms) or one duration")
		atLifetime  = fs.Duration("access-token-lifetime", time.Hour, "access token lifetime")
		deltaLife   = fs.Duration("delta-token-lifetime", 0, "delta token lifetime (0 = never expire by age)")
		partial     = fs.Bool("partial-updates", false, "Outlook delta returns updated items as changed properties only")
		mutations   = fs.Float64("mutations", 0, "random changes applied per second (0 = none)")
		shared      = fs.Int("shared-mailboxes", 0, "users sharing their mailbox (mail and calendar) with the next user")
		cloudName   = fs.String("cloud", "global", "national cloud: global, usgov, usgovdod or china (Graph's resource in tokens, SharePoint's domain)")
		certFile    = fs.String("certificate", "", "a public certificate (PEM or DER) the default app may authenticate with, by a client assertion")
		missed      = fs.Bool("missed-changes", false, "delta misses the changes Microsoft documents it can miss (a message moved out and back with immutable ids, some drive deletions)")
		notifyScale = fs.Float64("notify-scale", 1, "factor on change notification waits: retry backoff, the 4-hour retry window, throttling and reauthorization timings")
		verbose     = fs.Bool("v", false, "log every request and mutation")
	)
	fs.SetOutput(out)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return badFlagError{err}
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return fmt.Errorf("parse -addr: %w", err)
	}
	if ip := net.ParseIP(host); !*allowRemote && (ip == nil || !ip.IsLoopback()) && host != "localhost" {
		return fmt.Errorf("-addr %s is not a loopback address; pass -allow-remote to listen there", *addr)
	}
	if *notifyScale <= 0 {
		return fmt.Errorf("-notify-scale %v must be positive", *notifyScale)
	}
	th, err := emulator.ThrottleProfile(*profile)
	if err != nil {
		return err
	}
	lat, err := emulator.ParseLatency(*latency)
	if err != nil {
		return err
	}
	var certs [][]byte
	if *certFile != "" {
		b, err := os.ReadFile(*certFile)
		if err != nil {
			return fmt.Errorf("read -certificate: %w", err)
		}
		certs = append(certs, b)
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	var apps []emulator.App
	if len(certs) > 0 {
		apps = []emulator.App{{ClientID: emulator.DefaultClientID, Secret: emulator.DefaultSecret, RedirectURIs: emulator.DefaultRedirectURIs(), Certificates: certs}}
	}
	em, err := emulator.New(emulator.Config{Apps: apps,
		Seed: *seed, Users: *users, MessagesPerUser: *messages, EventsPerUser: *events, DriveItemsPerUser: *driveItems,
		ChatsPerUser: *chats, ChatMessagesPerChat: *chatMsgs, PeoplePerUser: *people, ContactsPerUser: *contacts,
		AccessTokenLifetime: *atLifetime, DeltaTokenLifetime: *deltaLife, Throttle: th, Latency: lat,
		PartialUpdates: *partial, SharedMailboxes: *shared, MissedChanges: *missed, Cloud: *cloudName, Logger: logger,
		// -allow-remote also lets notifications go to non-loopback URLs.
		Notifications: emulator.Notifications{AllowRemote: *allowRemote, Scale: *notifyScale},
	})
	if err != nil {
		return err
	}
	srv, err := emulator.Listen(em, *addr)
	if err != nil {
		return err
	}
	defer srv.Close()
	if *mutations > 0 {
		em.StartMutations(*mutations)
	}
	base := srv.URL()
	fmt.Fprintf(out, "graphemu listening on %s (tenant %s)\n", base, em.TenantID())
	fmt.Fprintf(out, "  Graph:     %s/v1.0/\n  authorize: %s/%s/oauth2/v2.0/authorize\n  token:     %s/%s/oauth2/v2.0/token\n  control:   %s/_emulator/\n",
		base, base, em.TenantID(), base, em.TenantID(), base)
	for _, a := range em.Apps() {
		fmt.Fprintf(out, "  app: client_id=%s client_secret=%s redirect_uris=%v\n", a.ClientID, a.Secret, a.RedirectURIs)
	}
	for _, u := range em.Users() {
		fmt.Fprintf(out, "  user: %s %s (%s)\n", u.ID, u.UserPrincipalName, u.DisplayName)
	}
	printEnv(out, em, base)
	<-ctx.Done()
	fmt.Fprintln(out, "graphemu stopping")
	return srv.Close()
}

// printEnv prints, ready to paste into a shell, every variable graphsync
// needs to use this emulator with its first registered app.
func printEnv(out io.Writer, em *emulator.Emulator, base string) {
	apps := em.Apps()
	if len(apps) == 0 {
		return
	}
	a := apps[0]
	redirect := ""
	if len(a.RedirectURIs) > 0 {
		redirect = a.RedirectURIs[0]
	}
	fmt.Fprintln(out, "# point graphsync at this emulator:")
	for _, kv := range [][2]string{
		{"GRAPHSYNC_CLIENT_ID", a.ClientID},
		{"GRAPHSYNC_CLIENT_SECRET", a.Secret},
		{"GRAPHSYNC_TENANT", em.TenantID()},
		{"GRAPHSYNC_REDIRECT_URL", redirect},
		{"GRAPHSYNC_GRAPH_URL", base},
		{"GRAPHSYNC_LOGIN_URL", base},
	} {
		fmt.Fprintf(out, "export %s=%s\n", kv[0], shellQuote(kv[1]))
	}
}

// shellQuote leaves plain values as they are and single-quotes the rest.
func shellQuote(s string) string {
	plain := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@%+=,", r)) {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
