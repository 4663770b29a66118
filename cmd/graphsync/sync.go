package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/config"
	"github.com/graphsync/graphsync/internal/progress"
)

// SyncCommand makes syncs happen now and optionally waits for them.
type SyncCommand struct{ *Main }

func (c *SyncCommand) Run(ctx context.Context, args []string) error {
	fs := c.flagSet("sync", "sync [flags]",
		"Sync every connection (or one) now, every enabled resource (or one), thoroughly: each chat's messages\n"+
			"are listed. Running workers do the work. A mailbox whose sync is already queued has it moved up;\n"+
			"one whose sync is running, or queued to do less, is synced again as soon as that ends.\n"+
			"--wait shows progress until the work is done and exits non-zero when a resource failed.")
	connID := fs.Int64("connection", 0, "only this connection id")
	resource := fs.String("resource", "", "only this resource")
	wait := fs.Bool("wait", false, "show progress until the syncs finish; exit 1 when one failed")
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
	if *connID != 0 {
		if _, err := existingConnection(ctx, st, *connID); err != nil {
			return err
		}
	}
	w, err := newWorker(cfg, st, newLogger(cfg, io.Discard), nil)
	if err != nil {
		return err
	}
	client, err := w.Jobs.NewClient(false)
	if err != nil {
		return err
	}
	pass, err := w.Jobs.EnqueueSync(ctx, client, *connID, rs)
	if err != nil {
		return err
	}
	n := pass.Counts()
	fmt.Fprintf(c.Stdout, "syncing %d mailbox(es) now: %d queued, %d already queued and moved up, %d queued again after the sync under way\n",
		pass.Mailboxes(), n.Queued, n.MovedUp, n.QueuedAfter)
	if pass.Mailboxes() == 0 {
		fmt.Fprintln(c.Stdout, "nothing to sync: no active connection has these resources")
		return nil
	}
	if *wait {
		return progress.Watch(ctx, st, pass, c.Stdout, progress.IsTerminal(c.Stdout))
	}
	if n.QueuedAfter == 0 {
		return nil
	}
	// A sync under way may have read Graph before now: the requested one
	// is queued when it ends, which needs this command until then.
	fmt.Fprintf(c.Stdout, "waiting for %d sync(s) under way to end ...\n", n.QueuedAfter)
	for {
		if _, err := pass.Poll(ctx); err != nil {
			return err
		}
		if pass.AllQueued() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
