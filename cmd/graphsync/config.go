package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/graphsync/graphsync/internal/config"
	"github.com/graphsync/graphsync/store"
)

// ConfigCommand checks the configuration or documents it.
type ConfigCommand struct{ *Main }

func (c *ConfigCommand) Run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usageErrorf("config needs a subcommand: check or vars")
	}
	switch args[0] {
	case "check":
		return c.check(ctx, args[1:])
	case "vars":
		fs := c.flagSet("config vars", "config vars", "Print every setting as a Markdown table (README.md's configuration table).")
		if err := c.parse(fs, args[1:]); err != nil {
			return err
		}
		if err := wantArgs(fs, 0, ""); err != nil {
			return err
		}
		writeVarsTable(c.Stdout)
		return nil
	case "-h", "-help", "--help":
		fmt.Fprintln(c.Stdout, "Usage: graphsync config check|vars [flags]")
		return nil
	}
	return usageErrorf("unknown config subcommand %q: want check or vars", args[0])
}

// check validates every setting, reaches the database and compares its
// migrations, then prints the settings (secrets masked) and each problem.
// It exits 2 when a setting is wrong, 1 when only the database is.
func (c *ConfigCommand) check(ctx context.Context, args []string) error {
	fs := c.flagSet("config check", "config check [flags]",
		"Check every setting, that the database answers and is migrated, and print the settings with secrets hidden.")
	cfg, err := config.Load(fs, interspersed(fs, args), c.Getenv)
	if err != nil {
		return c.flagError(fs, err)
	}
	if err := wantArgs(fs, 0, ""); err != nil {
		return err
	}

	w := table(c.Stdout)
	row(w, "SETTING", "VALUE")
	for _, kv := range cfg.Redacted() {
		if kv[0] == "DATABASE_URL" && kv[1] == cfg.DatabaseURL && hasPassword(kv[1]) {
			// A URL too malformed to parse cannot have its password masked.
			kv[1] = "(set, not a valid URL: hidden)"
		}
		row(w, kv[0], kv[1])
	}
	w.Flush()

	var settings, database, warns []string
	if err := cfg.Validate(config.Need{Database: true, Keys: true, App: true}); err != nil {
		settings = strings.Split(err.Error(), "\n")
	}
	if cfg.DatabaseURL != "" {
		var malformed bool
		database, warns, malformed = checkDatabase(ctx, cfg)
		if malformed {
			settings, database = append(settings, database...), nil
		}
	}

	fmt.Fprintln(c.Stdout)
	problems := append(settings, database...)
	warns = append(warns, secretWarnings(cfg, time.Now())...)
	if len(warns) > 0 {
		fmt.Fprintf(c.Stdout, "%d warning(s):\n", len(warns))
		for _, w := range warns {
			fmt.Fprintf(c.Stdout, "  - %s\n", w)
		}
	}
	if len(problems) == 0 {
		fmt.Fprintln(c.Stdout, "OK: every setting is valid, the database answers and is up to date.")
		return nil
	}
	fmt.Fprintf(c.Stdout, "%d problem(s):\n", len(problems))
	for _, p := range problems {
		fmt.Fprintf(c.Stdout, "  - %s\n", p)
	}
	err = fmt.Errorf("config check found %d problem(s)", len(problems))
	if len(settings) > 0 {
		return &usageError{err}
	}
	return err
}

// checkDatabase connects, lists pending migrations and, on an up-to-date
// database, the warnings `graphsync status` shows. malformed says the
// problem is DATABASE_URL itself, a configuration error.
func checkDatabase(ctx context.Context, cfg *config.Config) (problems, warns []string, malformed bool) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := store.Open(ctx, cfg.DatabaseURL, nil)
	var ce *store.ConfigError
	switch {
	case errors.As(err, &ce):
		return []string{err.Error()}, nil, true
	case errors.Is(err, context.DeadlineExceeded):
		return []string{"DATABASE_URL: database did not answer within 10s"}, nil, false
	case err != nil:
		return []string{fmt.Sprintf("DATABASE_URL: %v", err)}, nil, false
	}
	defer st.Close()
	pending, err := st.Pending(ctx)
	if err != nil {
		return []string{fmt.Sprintf("DATABASE_URL: cannot read applied migrations: %v", err)}, nil, false
	}
	if len(pending) > 0 {
		return []string{fmt.Sprintf("database: %d migration(s) pending (%s): run `graphsync migrate`",
			len(pending), strings.Join(pending, ", "))}, nil, false
	}
	warns, err = databaseWarnings(ctx, cfg, st)
	if err != nil {
		return []string{fmt.Sprintf("database: %v", err)}, nil, false
	}
	return nil, warns, false
}

// writeVarsTable prints config.Vars as the Markdown table README.md holds.
func writeVarsTable(w io.Writer) {
	fmt.Fprintln(w, "| Variable | Flag | Default | Meaning |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, v := range config.Vars {
		def := ""
		if v.Default != "" {
			def = "`" + v.Default + "`"
		}
		help := strings.ReplaceAll(v.Help, "|", `\|`)
		if v.Secret {
			help += " (secret: never printed)"
		}
		fmt.Fprintf(w, "| `%s` | `--%s` | %s | %s |\n", v.Env, v.Flag, def, help)
	}
}
