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
	fs2 "io/fs"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

// ConnectionsCommand lists and manages connections: the Microsoft accounts
// and tenants graphsync syncs.
type ConnectionsCommand struct{ *Main }

const connectionsUsage = "connections list|show ID|disable ID|enable ID|resources ID|mailboxes ID|attachments ID|token ID|delete ID --yes|import FILE [flags]"

func (c *ConnectionsCommand) Run(ctx context.Context, args []string) error {
	status := func(sub string) func(context.Context, []string) error {
		return func(ctx context.Context, args []string) error { return c.setStatus(ctx, sub, args) }
	}
	return c.runSubcommand(ctx, "connections", connectionsUsage, []subcommand{
		{"list", c.list}, {"show", c.show}, {"disable", status("disable")}, {"enable", status("enable")},
		{"resources", c.resources}, {"mailboxes", c.mailboxes}, {"attachments", c.attachments}, {"token", c.token}, {"delete", c.delete}, {"import", c.importFile},
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
	fs := c.flagSet("connections show", "connections show ID [flags]",
		"Show one connection, its change-notification subscriptions and the sync state of each of its streams.")
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
	subs, err := st.Subscriptions(ctx, cn.ID)
	if err != nil {
		return err
	}
	labels, err := st.ContainerLabels(ctx, cn.ID)
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
	if len(subs) > 0 {
		w = table(c.Stdout)
		row(w, "SUBSCRIPTION", "USER", "STATUS", "EXPIRES", "RENEWS", "NOTIFICATIONS", "LAST NOTIFIED", "LAST ERROR")
		for _, s := range subs {
			row(w, s.Resource.Name(), s.User, s.Status, formatTime(s.ExpiresAt), formatTime(s.RenewAt), itoa(s.Notifications),
				formatTime(s.NotifiedAt), oneLine(s.LastError, 80))
		}
		if err := w.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(c.Stdout)
	}
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
		row(w, s.Resource.Name(), oneLine(streamLabel(cn, s, labels[s.Stream]), 32), streamStatus(s.Status, s.MissingScope), formatTime(s.LastSuccessAt),
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

// importLine is one line of a connections import file. Scopes and
// Resources are nil when the line does not give them.
type importLine struct {
	TenantID          string   `json:"tenant_id"`
	UserID            string   `json:"user_id"`
	UserPrincipalName string   `json:"user_principal_name"`
	RefreshToken      string   `json:"refresh_token"`
	Scopes            []string `json:"scopes"`
	Resources         []string `json:"resources"`
}

// importFields names the fields of a line, for messages.
const importFields = "tenant_id, user_id, user_principal_name, refresh_token, scopes, resources"

// maxImportLine bounds one line of an import file.
const maxImportLine = 1 << 20

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
	if l.Resources != nil && len(l.Resources) == 0 {
		errs = append(errs, errors.New("resources is empty: list some of mail, calendar, drive, chats, people, contacts"))
	}
	for _, r := range l.Resources {
		if rs, err := graphsync.ParseResources(r); err != nil || len(rs) != 1 {
			errs = append(errs, fmt.Errorf("resource %q is not one of %s", r, strings.Join(graphsync.Names(graphsync.Enableable()), ", ")))
		}
	}
	return errors.Join(errs...)
}

// parseImportLine decodes one line, explaining what is wrong with it in
// terms of the file's format rather than Go's.
func parseImportLine(text []byte) (*importLine, error) {
	var l importLine
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.DisallowUnknownFields()
	err := dec.Decode(&l)
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil && dec.More():
		return nil, errors.New("more than one JSON object on the line")
	case err == nil:
		return &l, l.validate()
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
		return nil, fmt.Errorf("not a JSON object (%v); each line is one object with %s", err, importFields)
	case errors.As(err, &typeErr) && typeErr.Field == "":
		return nil, fmt.Errorf("a JSON %s, not an object; each line is one object with %s", typeErr.Value, importFields)
	case errors.As(err, &typeErr):
		want := "a string"
		if typeErr.Type.Kind() == reflect.Slice {
			want = "a list of strings"
		}
		return nil, fmt.Errorf("%s is a JSON %s; it must be %s", typeErr.Field, typeErr.Value, want)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return nil, fmt.Errorf("unknown field %s; the fields are %s", strings.TrimPrefix(err.Error(), "json: unknown field "), importFields)
	}
	return nil, err
}

func (c *ConnectionsCommand) importFile(ctx context.Context, args []string) error {
	fs := c.flagSet("connections import", "connections import FILE [--replace] [flags]",
		"Import delegated connections from JSON lines (FILE, or - for standard input), one per line:\n"+
			`  {"tenant_id":"…","user_id":"…","user_principal_name":"…","refresh_token":"…","scopes":["Mail.Read"],"resources":["mail"]}`+"\n"+
			"The refresh token is stored encrypted; the worker exchanges it for an access token first.\n"+
			"Each line is reported by number: created, updated, skipped (the connection exists; --replace\n"+
			"updates it) or bad (why). A bad line does not stop the others.")
	replace := fs.Bool("replace", false, "a connection that exists takes the line's refresh token and the fields the line gives; "+
		"its other fields, access token and disabled status stay")
	st, err := c.open(ctx, fs, args, 1, "a FILE to import (- for standard input)", true)
	if err != nil {
		return err
	}
	defer st.Close()

	var r io.Reader = c.Stdin
	if name := fs.Arg(0); name != "-" {
		f, err := os.Open(name)
		if errors.Is(err, fs2.ErrNotExist) {
			return usageErrorf("import file %s does not exist", name)
		}
		if err != nil {
			return usageErrorf("import file %s: %v", name, errors.Unwrap(err))
		}
		defer f.Close()
		r = f
	}
	var created, updated, skipped, bad int
	err = eachLine(r, maxImportLine, func(n int, text []byte, tooLong bool) error {
		if n == 1 {
			// A file saved by some editors starts with a UTF-8 byte-order
			// mark; it is not part of the JSON.
			text = bytes.TrimPrefix(text, []byte("\xef\xbb\xbf"))
		}
		text = bytes.TrimSpace(text)
		if len(text) == 0 && !tooLong {
			return nil
		}
		var l *importLine
		err := fmt.Errorf("longer than %d bytes", maxImportLine)
		if !tooLong {
			l, err = parseImportLine(text)
		}
		if err != nil {
			bad++
			fmt.Fprintf(c.Stderr, "line %d: bad: %s\n", n, strings.ReplaceAll(err.Error(), "\n", "; "))
			return nil
		}
		cn := &store.Connection{TenantID: l.TenantID, UserID: l.UserID, UserPrincipalName: l.UserPrincipalName, Scopes: l.Scopes}
		if l.Resources != nil {
			cn.Resources = mustResources(l.Resources)
		}
		outcome, stored, err := st.ImportConnection(ctx, cn, l.RefreshToken, *replace)
		if errors.Is(err, store.ErrNoResources) {
			bad++
			fmt.Fprintf(c.Stderr, "line %d: bad: %v\n", n, store.ErrNoResources)
			return nil
		}
		if err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		switch outcome {
		case store.ImportCreated:
			created++
			fmt.Fprintf(c.Stdout, "line %d: created connection %d (%s)\n", n, stored.ID, describe(stored))
		case store.ImportUpdated:
			updated++
			fmt.Fprintf(c.Stdout, "line %d: updated connection %d (%s)\n", n, stored.ID, describe(stored))
		default:
			skipped++
			fmt.Fprintf(c.Stdout, "line %d: skipped: connection %d (%s) exists; --replace updates it\n", n, stored.ID, describe(stored))
			return nil
		}
		for _, w := range scopeWarnings(stored, cn.Resources) {
			fmt.Fprintf(c.Stderr, "line %d: warning: %s\n", n, w)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	fmt.Fprintf(c.Stdout, "%d created, %d updated, %d skipped (already connected), %d bad line(s)\n", created, updated, skipped, bad)
	if bad > 0 {
		return fmt.Errorf("import: %d bad line(s) not imported", bad)
	}
	return nil
}

// eachLine calls fn with each line of r (without its end of line) and its
// number from 1. A line longer than max is not kept: fn gets tooLong and
// the lines after it are read all the same.
func eachLine(r io.Reader, max int, fn func(n int, line []byte, tooLong bool) error) error {
	br := bufio.NewReaderSize(r, 64*1024)
	var line []byte
	tooLong := false
	for n := 1; ; {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(chunk) > max+2 { // room for \r\n
				tooLong, line = true, line[:0]
			} else {
				line = append(line, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read line %d: %w", n, err)
		}
		if len(line) > 0 || tooLong || err == nil {
			trimmed := bytes.TrimRight(line, "\r\n")
			if !tooLong && len(trimmed) > max {
				tooLong = true
			}
			if ferr := fn(n, trimmed, tooLong); ferr != nil {
				return ferr
			}
		}
		if err != nil {
			return nil
		}
		n++
		line, tooLong = line[:0], false
	}
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
	return existingConnection(ctx, st, id)
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

// streamLabel names a stream within its connection: its container by name
// when it has one (a folder's display name, a chat's topic), else by id,
// after its user for an application connection.
func streamLabel(cn *store.Connection, s *store.SyncState, name string) string {
	label := s.Container
	if name != "" {
		label = name
	}
	if cn.Kind == store.KindApplication && s.User != "" {
		return s.User + "/" + label
	}
	return label
}
