package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/graphsync/graphsync/changes"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/config"
)

// ChangesCommand prints the change feed as JSON lines.
type ChangesCommand struct{ *Main }

// changeLine is one printed change: the change and the cursor after it.
type changeLine struct {
	graphsync.Change
	Cursor graphsync.Cursor `json:"cursor"`
}

func (c *ChangesCommand) Run(ctx context.Context, args []string) error {
	fs := c.flagSet("changes", "changes [--after CURSOR] [--follow] [--resource LIST] [--connection IDS] [flags]",
		"Print the change feed as JSON lines, one change each, oldest first: every insert, update and deletion\n"+
			"of a synced row, and connections' events (needs_reauth, needs_admin, disabled, enabled, created, deleted).\n"+
			"Each line carries the cursor after it; resume with --after, or keep one in --cursor-file.\n"+
			"A cursor older than the feed keeps (GRAPHSYNC_CHANGES_RETENTION) fails, naming the oldest available.")
	after := fs.String("after", "", "read the changes after this cursor (default: the oldest kept; \"now\": only what commits from now on)")
	follow := fs.Bool("follow", false, "keep printing changes as they commit, until interrupted")
	resources := fs.String("resource", "", "only these resources' changes, comma-separated (a connection's events always)")
	conns := fs.String("connection", "", "only these connections' changes, comma-separated ids")
	limit := fs.Int("limit", 1000, "changes read at a time")
	cursorFile := fs.String("cursor-file", "", "read the starting cursor from this file when it exists, and write the cursor there after each page")
	cfg, err := c.load(fs, args, config.Need{Database: true})
	if err != nil {
		return err
	}
	if err := wantArgs(fs, 0, ""); err != nil {
		return err
	}
	if *limit < 1 || *limit > changes.MaxLimit {
		return usageErrorf("changes: --limit %d is not between 1 and %d", *limit, changes.MaxLimit)
	}
	filter, err := parseFilter(*resources, *conns)
	if err != nil {
		return err
	}
	if *cursorFile != "" && *after == "" {
		b, err := os.ReadFile(*cursorFile)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("changes: --cursor-file: %w", err)
		}
		*after = strings.TrimSpace(string(b))
	}
	st, err := openStore(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer st.Close()
	feed := changes.NewFeed(st)
	var from graphsync.Cursor
	if *after == "now" {
		if from, err = feed.Now(ctx); err != nil {
			return err
		}
	} else if from, err = graphsync.ParseCursor(*after); err != nil {
		return usageErrorf("changes: --after: %v", err)
	}

	out := json.NewEncoder(c.Stdout)
	emit := func(p changes.Page) error {
		for i, ch := range p.Changes {
			if err := out.Encode(changeLine{Change: ch, Cursor: p.After(i)}); err != nil {
				return err
			}
		}
		from = p.Next
		if *cursorFile != "" {
			return writeCursor(*cursorFile, from)
		}
		return nil
	}
	if *follow {
		err = feed.Follow(ctx, from, filter, *limit, emit)
	} else {
		for {
			p, rerr := feed.Read(ctx, from, filter, *limit)
			if rerr != nil {
				err = rerr
				break
			}
			if err = emit(p); err != nil || !p.More {
				break
			}
		}
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(c.Stderr, "cursor:", from.String())
	return nil
}

// writeCursor replaces a cursor file, so a reader never sees half of one.
func writeCursor(path string, c graphsync.Cursor) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(c.String()+"\n"), 0o600); err != nil {
		return fmt.Errorf("write cursor file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write cursor file: %w", err)
	}
	return nil
}

// parseFilter reads --resource and --connection.
func parseFilter(resources, conns string) (changes.Filter, error) {
	var f changes.Filter
	for _, name := range strings.Split(resources, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		r, err := graphsync.ParseResource(name)
		if err != nil {
			return f, usageErrorf("--resource: %v", err)
		}
		f.Resources = append(f.Resources, r.Name())
	}
	for _, s := range strings.Split(conns, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 {
			return f, usageErrorf("--connection: %q is not a connection id", s)
		}
		f.Connections = append(f.Connections, id)
	}
	return f, nil
}
