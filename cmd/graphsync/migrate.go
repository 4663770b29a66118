package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/graphsync/graphsync/internal/config"
)

// MigrateCommand applies graphsync's and River's migrations.
type MigrateCommand struct{ *Main }

func (c *MigrateCommand) Run(ctx context.Context, args []string) error {
	fs := c.flagSet("migrate", "migrate [flags]",
		"Apply graphsync's and River's database migrations. Safe to run from several processes at once; a second run applies nothing.")
	cfg, err := c.load(fs, args, config.Need{Database: true})
	if err != nil {
		return err
	}
	if err := wantArgs(fs, 0, ""); err != nil {
		return err
	}
	st, err := openStore(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer st.Close()
	res, err := st.Migrate(ctx, slog.New(slog.DiscardHandler))
	if res != nil {
		for _, v := range res.RiverApplied {
			fmt.Fprintf(c.Stdout, "applied River migration %03d\n", v)
		}
		for _, f := range res.Applied {
			fmt.Fprintf(c.Stdout, "applied %s\n", f)
		}
	}
	if err != nil {
		return err
	}
	if len(res.Applied) == 0 && len(res.RiverApplied) == 0 {
		fmt.Fprintln(c.Stdout, "database is up to date")
	}
	return nil
}
