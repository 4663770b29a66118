package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/graphsync/graphsync/internal/config"
	"github.com/graphsync/graphsync/store"
)

// commands is every subcommand: its name, a one-line summary for `graphsync
// help`, and how to build it. Adding a subcommand is one line here and one
// file holding its type.
var commands = []struct {
	name, summary string
	// subs are the subcommands, listed by `graphsync help`.
	subs []string
	new  func(*Main) Command
}{
	{"config", "check the configuration or print its table", []string{"check", "vars"}, func(m *Main) Command { return &ConfigCommand{m} }},
	{"migrate", "apply database migrations (graphsync's and River's)", nil, func(m *Main) Command { return &MigrateCommand{m} }},
	{"keys", "generate an encryption key, or re-encrypt tokens under the first key", []string{"generate", "rotate"}, func(m *Main) Command { return &KeysCommand{m} }},
	{"connections", "manage connections and their resources, hand out access tokens",
		[]string{"list", "show", "disable", "enable", "resources", "mailboxes", "attachments", "token", "delete", "import"}, func(m *Main) Command { return &ConnectionsCommand{m} }},
	{"worker", "work the queues: refresh tokens, schedule and run syncs", nil, func(m *Main) Command { return &WorkerCommand{m} }},
	{"connect", "connect a Microsoft account (or a whole tenant) through the OAuth sign-in", nil, func(m *Main) Command { return &ConnectCommand{m} }},
	{"sync", "sync now, optionally waiting with progress (--wait)", nil, func(m *Main) Command { return &SyncCommand{m} }},
	{"status", "show each connection's sync state, lag, throttling and errors, and warnings", nil, func(m *Main) Command { return &StatusCommand{m} }},
	{"changes", "print the change feed as JSON lines, optionally following it", nil, func(m *Main) Command { return &ChangesCommand{m} }},
	{"webhooks", "add, list, remove or reset the endpoints the change feed is delivered to", []string{"add", "list", "remove", "reset"},
		func(m *Main) Command { return &WebhooksCommand{m} }},
	{"apikeys", "create, list or revoke the keys apps use with the worker's API", []string{"create", "list", "revoke"},
		func(m *Main) Command { return &APIKeysCommand{m} }},
	{"version", "print the version", nil, func(m *Main) Command { return &VersionCommand{m} }},
}

// Command is one subcommand. Run receives the arguments after its name.
type Command interface {
	Run(ctx context.Context, args []string) error
}

// Main holds what every command reads from and writes to, so tests can run
// commands in-process with their own environment and buffers.
type Main struct {
	Getenv func(string) string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer

	// helps prints each flag set's help, for -h.
	helps map[*flag.FlagSet]func()
}

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	m := &Main{Getenv: os.Getenv, Stdin: os.Stdin, Stdout: stdout, Stderr: stderr}
	return m.Exit(m.Run(ctx, args))
}

// Run runs the subcommand args name.
func (m *Main) Run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usageErrorf("no command given; `graphsync help` lists the commands")
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			// `graphsync help migrate` is `graphsync migrate -h`.
			return m.Run(ctx, []string{args[1], "-h"})
		}
		m.usage(m.Stdout)
		return nil
	}
	for _, c := range commands {
		if c.name == name {
			return c.new(m).Run(ctx, args[1:])
		}
	}
	return usageErrorf("unknown command %q; run `graphsync help` for the list", name)
}

// Exit reports err on stderr and maps it to an exit code: 0 on success and
// for -h, 2 for usage and configuration errors (a malformed DATABASE_URL
// included), 1 for everything else.
func (m *Main) Exit(err error) int {
	var u *usageError
	var ce *store.ConfigError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &u), errors.As(err, &ce):
		fmt.Fprintln(m.Stderr, "graphsync:", err)
		return 2
	default:
		fmt.Fprintln(m.Stderr, "graphsync:", err)
		return 1
	}
}

func (m *Main) usage(w io.Writer) {
	fmt.Fprintln(w, "graphsync keeps PostgreSQL in step with Microsoft 365 through Microsoft Graph.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: graphsync COMMAND [ARGS] [FLAGS]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	width := 4
	for _, c := range commands {
		width = max(width, len(c.name))
	}
	for _, c := range commands {
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.name, c.summary)
		if len(c.subs) > 0 {
			fmt.Fprintf(w, "  %-*s  (%s %s)\n", width, "", c.name, strings.Join(c.subs, "|"))
		}
	}
	fmt.Fprintf(w, "  %-*s  %s\n", width, "help", "list commands; `graphsync help COMMAND` (or `graphsync COMMAND -h`) shows its flags")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Every setting is read from its environment variable; a command that reads a setting")
	fmt.Fprintln(w, "also takes the flag of the same name, which wins: see `graphsync config vars`.")
	fmt.Fprintln(w, "The demo (`make demo`) is a binary of its own, graphsync-demo.")
}

// usageError is a mistake in how graphsync was invoked or configured;
// it exits with status 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usageErrorf(format string, a ...any) error {
	return &usageError{fmt.Errorf(format, a...)}
}

// flagSet returns a flag set for a command whose -h prints usage ("migrate
// [flags]") and help, then the flags, on standard output as `graphsync
// help` does. A mistake is reported in one line by flagError: the flag
// package would print every flag after it.
func (m *Main) flagSet(name, usage, help string) *flag.FlagSet {
	fs := flag.NewFlagSet("graphsync "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if m.helps == nil {
		m.helps = map[*flag.FlagSet]func(){}
	}
	m.helps[fs] = func() {
		fmt.Fprintf(m.Stdout, "Usage: graphsync %s\n\n%s\n\nFlags (each setting's flag overrides its environment variable):\n", usage, help)
		printFlags(m.Stdout, fs)
	}
	return fs
}

// printFlags is flag.PrintDefaults without secrets: config.Load makes each
// setting's environment value its flag's default, so a secret set in the
// environment would otherwise be printed by -h.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	env := map[string]config.Var{}
	for _, v := range config.Vars {
		env[v.Flag] = v
	}
	fs.VisitAll(func(f *flag.Flag) {
		v, isSetting := env[f.Name]
		kind := ""
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !b.IsBoolFlag() {
			kind = " value"
		}
		fmt.Fprintf(w, "  -%s%s\n    \t%s", f.Name, kind, f.Usage)
		if isSetting {
			fmt.Fprintf(w, " [$%s]", v.Env)
		}
		def := f.DefValue
		switch {
		case def == "" || def == "0" || def == "false":
		case v.Secret, f.Name == "database-url" && hasPassword(def):
			fmt.Fprint(w, " (set, hidden)")
		default:
			fmt.Fprintf(w, " (default %q)", def)
		}
		fmt.Fprintln(w)
	})
}

// hasPassword reports whether a PostgreSQL connection string may hold a
// password: a URL with one, a malformed URL with user information, or a
// keyword/value string naming one.
func hasPassword(dsn string) bool {
	u, err := url.Parse(dsn)
	if err != nil {
		return strings.Contains(dsn, "@") || strings.Contains(dsn, "password")
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			return true
		}
	}
	return strings.Contains(dsn, "password")
}

// parse parses args with fs, for commands that read no configuration.
func (m *Main) parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(interspersed(fs, args)); err != nil {
		return m.flagError(fs, err)
	}
	return nil
}

// load reads the configuration from the environment, lets the flags in args
// override it, and checks the settings the command needs. The command's own
// flags must be defined on fs before.
func (m *Main) load(fs *flag.FlagSet, args []string, need config.Need) (*config.Config, error) {
	cfg, err := config.Load(fs, interspersed(fs, args), m.Getenv)
	if err != nil {
		return nil, m.flagError(fs, err)
	}
	m.warn(cfg)
	if err := cfg.Validate(need); err != nil {
		return nil, &usageError{fmt.Errorf("configuration:\n  %s", strings.ReplaceAll(err.Error(), "\n", "\n  "))}
	}
	return cfg, nil
}

// warn tells what loading the configuration noticed (a secret given as a
// flag).
func (m *Main) warn(cfg *config.Config) {
	for _, w := range cfg.Warnings {
		fmt.Fprintln(m.Stderr, "graphsync: warning:", w)
	}
}

// flagError prints fs's help for -h (flag.ErrHelp, exit 0) and makes any
// other parse error a one-line usage error with a hint.
func (m *Main) flagError(fs *flag.FlagSet, err error) error {
	if errors.Is(err, flag.ErrHelp) {
		if help := m.helps[fs]; help != nil {
			help()
		}
		return err
	}
	return usageErrorf("%v; `%s -h` lists its flags", err, fs.Name())
}

// interspersed moves flags ahead of positional arguments, so that
// `connections delete 7 --yes` parses like `connections delete --yes 7`.
// A flag not defined on fs yet is taken to have a value, as every
// configuration flag has.
func interspersed(fs *flag.FlagSet, args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") || name == "h" || name == "help" {
			continue
		}
		if f := fs.Lookup(name); f != nil {
			if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
				continue
			}
		}
		if i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	return append(append(flags, "--"), pos...)
}

// wantArgs checks the number of positional arguments left after the flags.
func wantArgs(fs *flag.FlagSet, n int, what string) error {
	if fs.NArg() == n {
		return nil
	}
	// Exit prefixes "graphsync: " already.
	name := strings.TrimPrefix(fs.Name(), "graphsync ")
	if n == 0 {
		return usageErrorf("%s takes no arguments, got %q", name, strings.Join(fs.Args(), " "))
	}
	return usageErrorf("%s needs %s", name, what)
}

// subcommand is one of a command's subcommands: its name and what runs it
// with the arguments after the name.
type subcommand struct {
	name string
	run  func(ctx context.Context, args []string) error
}

// runSubcommand runs the subcommand args[0] names; usage lists them all.
func (m *Main) runSubcommand(ctx context.Context, command, usage string, subs []subcommand, args []string) error {
	names := make([]string, len(subs))
	for i, s := range subs {
		names[i] = s.name
	}
	want := strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
	if len(args) == 0 {
		return usageErrorf("%s needs a subcommand: %s", command, want)
	}
	switch args[0] {
	case "-h", "-help", "--help":
		fmt.Fprintln(m.Stdout, "Usage: graphsync "+usage)
		return nil
	}
	for _, s := range subs {
		if s.name == args[0] {
			return s.run(ctx, args[1:])
		}
	}
	return usageErrorf("unknown %s subcommand %q: want %s", command, args[0], want)
}

// open loads the configuration of a command that needs the database (and
// the encryption key when keys), checks its positional arguments and opens
// the store.
func (m *Main) open(ctx context.Context, fs *flag.FlagSet, args []string, nargs int, what string, keys bool) (*store.Store, error) {
	cfg, err := m.load(fs, args, config.Need{Database: true, Keys: keys})
	if err != nil {
		return nil, err
	}
	if err := wantArgs(fs, nargs, what); err != nil {
		return nil, err
	}
	return openStore(ctx, cfg, keys)
}

// openStore connects to the database; keys, when true, also parses the
// encryption key for commands that read or write tokens.
func openStore(ctx context.Context, cfg *config.Config, keys bool) (*store.Store, error) {
	var kr *store.Keyring
	if keys {
		var err error
		if kr, err = cfg.Keyring(); err != nil {
			return nil, &usageError{err}
		}
	}
	return store.Open(ctx, cfg.DatabaseURL, kr)
}

// existingConnection reads a connection an operator named; one that does
// not exist is a usage error.
func existingConnection(ctx context.Context, st *store.Store, id int64) (*store.Connection, error) {
	if id <= 0 {
		return nil, usageErrorf("connection ID %d is not a positive number", id)
	}
	cn, err := st.Connection(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, usageErrorf("connection %d does not exist; `graphsync connections list` shows them", id)
	}
	return cn, err
}

// table writes aligned columns; call flush when done.
func table(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// row writes one tab-separated line, showing empty cells as "-".
func row(w io.Writer, cells ...string) {
	for i, c := range cells {
		if c == "" {
			cells[i] = "-"
		}
	}
	fmt.Fprintln(w, strings.Join(cells, "\t"))
}
