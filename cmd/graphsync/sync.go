package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/graphsync/graphsync/internal/config"
	"github.com/graphsync/graphsync/jobs"
	"github.com/graphsync/graphsync/store"
)

func jobsResources() []string { return jobs.Resources }

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
	var rs []string
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
	svc, _, err := newService(cfg, st, newLogger(cfg, io.Discard), nil)
	if err != nil {
		return err
	}
	client, err := svc.NewClient(false)
	if err != nil {
		return err
	}
	n, err := svc.EnqueueSync(ctx, client, *connID, rs)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.Stdout, "enqueued %d sync jobs\n", n)
	if !*wait || n == 0 {
		return nil
	}
	return watchSyncs(ctx, st, c.Stdout, isTerminal(c.Stdout))
}

// progress is what the sync_state table says has been written so far.
type progress struct {
	pages, upserted, deleted int64
	active, failed           int
}

func readProgress(ctx context.Context, st *store.Store) (map[string]progress, progress, error) {
	per := map[string]progress{}
	var total progress
	rows, err := st.Pool().Query(ctx, `SELECT resource, sum(pages), sum(upserted), sum(deleted) FROM sync_state GROUP BY resource ORDER BY resource`)
	if err != nil {
		return nil, total, err
	}
	for rows.Next() {
		var r string
		var p progress
		if err := rows.Scan(&r, &p.pages, &p.upserted, &p.deleted); err != nil {
			rows.Close()
			return nil, total, err
		}
		per[r] = p
	}
	rows.Close()
	err = st.Pool().QueryRow(ctx, `SELECT count(*) FILTER (WHERE state IN ('available', 'running', 'retryable', 'scheduled', 'pending')),
		count(*) FILTER (WHERE state = 'discarded') FROM river_job WHERE kind = 'graphsync_sync'`).Scan(&total.active, &total.failed)
	return per, total, err
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
