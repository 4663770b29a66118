package main

import (
	"context"
	"fmt"
	"io"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/config"
	"github.com/graphsync/graphsync/internal/progress"
)

// SyncCommand enqueues syncs now and optionally waits for them.
type SyncCommand struct{ *Main }

func (c *SyncCommand) Run(ctx context.Context, args []string) error {
	fs := c.flagSet("sync", "sync [flags]",
		"Enqueue syncs now for every connection (or one), for every enabled resource (or one).\n"+
			"Running workers pick them up; --wait shows progress until they are done.")
	connID := fs.Int64("connection", 0, "only this connection id")
	resource := fs.String("resource", "", "only this resource")
	wait := fs.Bool("wait", false, "show progress until the enqueued syncs finish")
	cfg, err := c.load(fs, args, config.Need{Database: true, Keys: true, App: true})
	if err != nil {
		return err
	}
	if err := wantArgs(fs, 0, ""); err != nil {
		return err
	}
	var rs []*graphsync.Resource
	if *resource != "" {
		if rs, err = parseResources(*resource); err != nil {
			return err
		}
	}
	st, err := openStore(ctx, cfg, true)
	if err != nil {
		return err
	}
	defer st.Close()
	w, err := newWorker(cfg, st, newLogger(cfg, io.Discard), nil)
	if err != nil {
		return err
	}
	client, err := w.Jobs.NewClient(false)
	if err != nil {
		return err
	}
	n, err := w.Jobs.EnqueueSync(ctx, client, *connID, rs)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.Stdout, "enqueued %d sync jobs\n", n)
	if !*wait || n == 0 {
		return nil
	}
	return progress.Watch(ctx, st, client, c.Stdout, progress.IsTerminal(c.Stdout))
}
