package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

// ConnectionsCommand lists and manages connections: the Microsoft accounts
// and tenants graphsync syncs.
type ConnectionsCommand struct{ *Main }

const connectionsUsage = "connections list|show ID|disable ID|enable ID|resources ID|token ID|delete ID --yes|import FILE [flags]"

func (c *ConnectionsCommand) Run(ctx context.Context, args []string) error {
	status := func(sub string) func(context.Context, []string) error {
		return func(ctx context.Context, args []string) error { return c.setStatus(ctx, sub, args) }
	}
	return c.runSubcommand(ctx, "connections", connectionsUsage, []subcommand{
		{"list", c.list}, {"show", c.show}, {"disable", status("disable")}, {"enable", status("enable")},
		{"resources", c.resources}, {"token", c.token}, {"delete", c.delete}, {"import", c.importFile},
	}, args)
}

func (c *ConnectionsCommand) list(ctx context.Context, args []string) error {
	fs := c.flagSet("connections list", "connections list [flags]", "List every connection.")
	st, err := c.open(ctx, fs, args, 0, "", false)
	if err != nil {
		return err
	}
	defer st.Close()
	conns, err := st.Connections(ctx)
	if err != nil {
		return err
	}
	w := table(c.Stdout)
	row(w, "ID", "KIND", "TENANT", "UPN", "STATUS", "RESOURCES", "TOKEN EXPIRES", "LAST ERROR")
	for _, cn := range conns {
		row(w, strconv.FormatInt(cn.ID, 10), cn.Kind, cn.TenantID, cn.UserPrincipalName, cn.Status,
			strings.Join(graphsync.Names(cn.Resources), ","), formatTime(cn.AccessTokenExpiresAt), oneLine(cn.LastError, 60))
	}
	return w.Flush()
}

func (c *ConnectionsCommand) show(ctx context.Context, args []string) error {
	fs := c.flagSet("connections show", "connections show ID [flags]", "Show one connection and the sync state of each of its streams.")
	st, cn, err := c.openConnection(ctx, fs, args)
	if err != nil {
		return err
	}
	defer st.Close()
	states, err := st.SyncStates(ctx, cn.ID)
	if err != nil {
		return err
	}
	quarantined, err := st.QuarantineCounts(ctx, cn.ID)
	if err != nil {
		return err
	}
	total := 0
	for _, q := range quarantined {
		total += q.N
	}

	w := table(c.Stdout)
	for _, kv := range [][2]string{
		{"ID", strconv.FormatInt(cn.ID, 10)},
		{"Kind", cn.Kind},
		{"Tenant", cn.TenantID},
		{"User", cn.UserID},
		{"UPN", cn.UserPrincipalName},
		{"Name", cn.DisplayName},
		{"Status", cn.Status},
		{"Scopes", strings.Join(cn.Scopes, " ")},
		{"Resources", strings.Join(graphsync.Names(cn.Resources), ", ")},
		{"Token expires", formatTime(cn.AccessTokenExpiresAt)},
		{"Token refreshed", formatTime(cn.TokenRefreshedAt)},
		{"Last error", errorText(cn.LastErrorCode, cn.LastError, cn.LastErrorAt)},
		{"Quarantined", strconv.Itoa(total)},
		{"Created", formatTime(&cn.CreatedAt)},
	} {
		row(w, kv[0]+":", kv[1])
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(c.Stdout)
	if len(states) == 0 {
		fmt.Fprintln(c.Stdout, "No stream has been synced yet.")
		return nil
	}
	now := time.Now()
	w = table(c.Stdout)
	row(w, "RESOURCE", "STREAM", "STATUS", "LAST SUCCESS", "LAG", "PAGES", "UPSERTED", "DELETED", "RESYNCS", "IN PROGRESS", "LAST ERROR")
	for _, s := range states {
		progress := ""
		if s.NextLink != "" {
			progress = "since " + formatTime(s.RoundStartedAt)
		}
		row(w, s.Resource.Name(), oneLine(streamLabel(cn, s), 24), streamStatus(s.Status, s.MissingScope), formatTime(s.LastSuccessAt),
			lag(now, s.LastSuccessAt), itoa(s.Pages), itoa(s.Upserted), itoa(s.Deleted), itoa(s.Resyncs),
			progress, oneLine(s.LastError, 80))
	}
	return w.Flush()
}

func (c *ConnectionsCommand) setStatus(ctx context.Context, verb string, args []string) error {
	help := "Stop syncing a connection until it is enabled again; its synced rows stay."
	if verb == "enable" {
		help = "Sync a disabled connection again (a connection that needs the user to sign in again stays so until they do)."
	}
	fs := c.flagSet("connections "+verb, "connections "+verb+" ID [flags]", help)
	st, cn, err := c.openConnection(ctx, fs, args)
	if err != nil {
		return err
	}
	defer st.Close()
	if verb == "disable" {
		err = st.SetStatus(ctx, cn.ID, store.StatusDisabled, "disabled", "disabled by `graphsync connections disable`")
	} else {
		err = st.SetStatus(ctx, cn.ID, store.StatusActive, "", "")
	}
	if err != nil {
		return fmt.Errorf("%s connection %d: %w", verb, cn.ID, err)
	}
	fmt.Fprintf(c.Stdout, "connection %d (%s) %sd\n", cn.ID, describe(cn), verb)
	return nil
}

func (c *ConnectionsCommand) delete(ctx context.Context, args []string) error {
	fs := c.flagSet("connections delete", "connections delete ID --yes [flags]",
		"Remove a connection and every row synced through it, in one transaction.")
	yes := fs.Bool("yes", false, "really delete: required")
	st, cn, err := c.openConnection(ctx, fs, args)
	if err != nil {
		return err
	}
	defer st.Close()
	if !*yes {
		return usageErrorf("deleting connection %d (%s) removes every row synced through it; add --yes to go ahead", cn.ID, describe(cn))
	}
	if err := st.DeleteConnection(ctx, cn.ID); err != nil {
		return fmt.Errorf("connection %d: remove: %w", cn.ID, err)
	}
	fmt.Fprintf(c.Stdout, "deleted connection %d (%s) and its synced rows\n", cn.ID, describe(cn))
	return nil
}

// importLine is one line of a connections import file.
type importLine struct {
	TenantID          string   `json:"tenant_id"`
	UserID            string   `json:"user_id"`
	UserPrincipalName string   `json:"user_principal_name"`
	RefreshToken      string   `json:"refresh_token"`
	Scopes            []string `json:"scopes"`
	Resources         []string `json:"resources"`
}

func (l *importLine) validate() error {
	var errs []error
	for _, f := range []struct{ name, value string }{
		{"tenant_id", l.TenantID}, {"user_id", l.UserID}, {"refresh_token", l.RefreshToken},
	} {
		if strings.TrimSpace(f.value) == "" {
			errs = append(errs, fmt.Errorf("%s is missing", f.name))
		}
	}
	for _, s := range l.Scopes {
		if s == "" || strings.ContainsAny(s, " \t") {
			errs = append(errs, fmt.Errorf("scope %q is not a single scope", s))
		}
	}
	if len(l.Resources) == 0 {
		errs = append(errs, errors.New("resources is empty: list some of mail, calendar, drive, chats, people, contacts"))
	}
	for _, r := range l.Resources {
		if rs, err := graphsync.ParseResources(r); err != nil || len(rs) != 1 {
			errs = append(errs, fmt.Errorf("resource %q is not one of %s", r, strings.Join(graphsync.Names(graphsync.Resources), ", ")))
		}
	}
	return errors.Join(errs...)
}

func (c *ConnectionsCommand) importFile(ctx context.Context, args []string) error {
	fs := c.flagSet("connections import", "connections import FILE [flags]",
		"Import delegated connections from JSON lines (FILE, or - for standard input), one per line:\n"+
			`  {"tenant_id":"…","user_id":"…","user_principal_name":"…","refresh_token":"…","scopes":["Mail.Read"],"resources":["mail"]}`+"\n"+
			"The refresh token is stored encrypted; the worker exchanges it for an access token first.\n"+
			"Bad lines are reported by number and skipped; the others are imported.")
	st, err := c.open(ctx, fs, args, 1, "a FILE to import (- for standard input)", true)
	if err != nil {
		return err
	}
	defer st.Close()

	var r io.Reader = c.Stdin
	if name := fs.Arg(0); name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		defer f.Close()
		r = f
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	imported, bad := 0, 0
	for n := 1; sc.Scan(); n++ {
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		var l importLine
		dec := json.NewDecoder(bytes.NewReader(text))
		dec.DisallowUnknownFields()
		err := dec.Decode(&l)
		if err == nil && dec.More() {
			err = errors.New("more than one JSON object on the line")
		}
		if err == nil {
			err = l.validate()
		}
		if err == nil {
			_, err = st.SaveConnection(ctx, &store.Connection{
				Kind:              store.KindDelegated,
				TenantID:          l.TenantID,
				UserID:            l.UserID,
				UserPrincipalName: l.UserPrincipalName,
				Scopes:            l.Scopes,
				Resources:         mustResources(l.Resources),
			}, store.Tokens{RefreshToken: l.RefreshToken})
		}
		if err != nil {
			bad++
			fmt.Fprintf(c.Stderr, "line %d: %s\n", n, strings.ReplaceAll(err.Error(), "\n", "; "))
			continue
		}
		imported++
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("import: read: %w", err)
	}
	fmt.Fprintf(c.Stdout, "imported %d connection(s), skipped %d bad line(s)\n", imported, bad)
	if bad > 0 {
		return fmt.Errorf("import: %d line(s) not imported", bad)
	}
	return nil
}

// connection looks up the connection whose id arg names.
// openConnection is open for the subcommands that take one connection ID:
// it also reads that connection.
func (c *ConnectionsCommand) openConnection(ctx context.Context, fs *flag.FlagSet, args []string) (*store.Store, *store.Connection, error) {
	st, err := c.open(ctx, fs, args, 1, "a connection ID", false)
	if err != nil {
		return nil, nil, err
	}
	cn, err := c.connection(ctx, st, fs.Arg(0))
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, cn, nil
}

func (c *ConnectionsCommand) connection(ctx context.Context, st *store.Store, arg string) (*store.Connection, error) {
	id, err := strconv.ParseInt(arg, 10, 64)
	if err != nil || id <= 0 {
		return nil, usageErrorf("connection ID %q is not a positive number", arg)
	}
	cn, err := st.Connection(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("connection %d does not exist", id)
	}
	return cn, err
}

func describe(cn *store.Connection) string {
	if cn.UserPrincipalName != "" {
		return cn.UserPrincipalName
	}
	return cn.Kind + " " + cn.TenantID
}

func formatTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// lag is how long ago the last success was, or "never".
func lag(now time.Time, last *time.Time) string {
	if last == nil || last.IsZero() {
		return "never"
	}
	return now.Sub(*last).Round(time.Second).String()
}

func streamStatus(status, scope string) string {
	if status == store.StreamMissingScope && scope != "" {
		return status + " (" + scope + ")"
	}
	return status
}

func errorText(code, msg string, at *time.Time) string {
	var parts []string
	if code != "" {
		parts = append(parts, code+":")
	}
	if msg != "" {
		parts = append(parts, oneLine(msg, 200))
	}
	if at != nil && len(parts) > 0 {
		parts = append(parts, "(at "+formatTime(at)+")")
	}
	return strings.Join(parts, " ")
}

// oneLine keeps a cell on one line and at most n runes long.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// mustResources parses resource names a line's validation accepted.
func mustResources(names []string) []*graphsync.Resource {
	rs, _ := graphsync.ParseResources(strings.Join(names, ","))
	return rs
}

// streamLabel names a stream within its connection: its container, after
// its user for an application connection.
func streamLabel(cn *store.Connection, s *store.SyncState) string {
	if cn.Kind == store.KindApplication && s.User != "" {
		return s.User + "/" + s.Container
	}
	return s.Container
}
