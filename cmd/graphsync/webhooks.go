package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/graphsync/graphsync/changes"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/redact"
	"github.com/graphsync/graphsync/store"
)

// WebhooksCommand manages the endpoints the change feed is delivered to.
type WebhooksCommand struct{ *Main }

const webhooksUsage = "webhooks add URL|list|remove ID|reset ID [flags]"

func (c *WebhooksCommand) Run(ctx context.Context, args []string) error {
	return c.runSubcommand(ctx, "webhooks", webhooksUsage, []subcommand{
		{"add", c.add}, {"list", c.list}, {"remove", c.remove}, {"reset", c.reset},
	}, args)
}

func (c *WebhooksCommand) add(ctx context.Context, args []string) error {
	fs := c.flagSet("webhooks add", "webhooks add URL [--resource LIST] [--connection IDS] [--from now|start|CURSOR] [flags]",
		"Register an endpoint: the worker POSTs it the change feed in signed batches, in order, retrying until\n"+
			"it answers 2xx. The signing secret is printed once; receivers verify the Graphsync-Signature header.")
	resources := fs.String("resource", "", "only these resources' changes, comma-separated (a connection's events always)")
	conns := fs.String("connection", "", "only these connections' changes, comma-separated ids")
	from := fs.String("from", "now", "deliver from now on (now), everything the feed keeps (start), or after a cursor")
	secretFile := fs.String("secret-file", "", "read the signing secret from this file instead of generating one")
	insecure := fs.Bool("insecure-http", false, "allow a plain http URL off loopback")
	st, err := c.open(ctx, fs, args, 1, "the endpoint's URL", true)
	if err != nil {
		return err
	}
	defer st.Close()
	url := fs.Arg(0)
	if err := changes.CheckURL(url, *insecure); err != nil {
		return &usageError{err}
	}
	filter, err := parseFilter(*resources, *conns)
	if err != nil {
		return err
	}
	start, err := cursorArg(ctx, st, *from)
	if err != nil {
		return err
	}
	secret := changes.NewSecret()
	if *secretFile != "" {
		b, err := os.ReadFile(*secretFile)
		if err != nil {
			return &usageError{fmt.Errorf("--secret-file: %w", err)}
		}
		if secret = strings.TrimSpace(string(b)); len(secret) < 16 {
			return usageErrorf("--secret-file %s holds %d characters; a signing secret needs at least 16", *secretFile, len(secret))
		}
	}
	ep, err := st.AddWebhook(ctx, url, filter, secret, start)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.Stdout, "webhook endpoint %d added: %s\n", ep.ID, redact.Link(ep.URL))
	if *secretFile == "" {
		fmt.Fprintf(c.Stdout, "signing secret (shown once; receivers verify %s with it): %s\n", changes.HeaderSignature, secret)
	}
	return nil
}

// cursorArg reads now, start or a cursor.
func cursorArg(ctx context.Context, st *store.Store, arg string) (graphsync.Cursor, error) {
	switch arg {
	case "now":
		return st.ChangesNow(ctx)
	case "start":
		return st.OldestChanges(ctx)
	}
	c, err := graphsync.ParseCursor(arg)
	if err != nil || c.IsZero() {
		return c, usageErrorf("want now, start or a cursor, not %q", arg)
	}
	return c, nil
}

func (c *WebhooksCommand) list(ctx context.Context, args []string) error {
	fs := c.flagSet("webhooks list", "webhooks list [flags]", "List the webhook endpoints: filter, deliveries, what is pending and failures.")
	st, err := c.open(ctx, fs, args, 0, "", false)
	if err != nil {
		return err
	}
	defer st.Close()
	return printWebhooks(ctx, c.Stdout, st, false)
}

// printWebhooks writes a table of the endpoints; brief leaves it out when
// there are none (graphsync status).
func printWebhooks(ctx context.Context, out io.Writer, st *store.Store, brief bool) error {
	eps, err := st.Webhooks(ctx)
	if err != nil {
		return err
	}
	if len(eps) == 0 {
		if !brief {
			fmt.Fprintln(out, "No webhook endpoints: add one with `graphsync webhooks add URL`.")
		}
		return nil
	}
	if brief {
		fmt.Fprintln(out)
		fmt.Fprintln(out, "Webhook endpoints")
	}
	now := time.Now()
	w := table(out)
	row(w, "ID", "URL", "RESOURCES", "CONNECTIONS", "DELIVERED", "PENDING", "LAG", "LAST SUCCESS", "FAILING SINCE", "FAILURES", "LAST ERROR")
	for _, ep := range eps {
		pending, lagText := "", ""
		p, err := st.PendingChanges(ctx, ep.Cursor, ep.Filter)
		var expired *store.CursorExpiredError
		switch {
		case errors.As(err, &expired):
			pending = "behind retention"
		case err != nil:
			return err
		default:
			pending = itoa(p.Changes)
			if !p.Oldest.IsZero() {
				lagText = lag(now, &p.Oldest)
			}
		}
		lastErr := ""
		if ep.FailingSince != nil {
			lastErr = ep.LastError
		}
		row(w, itoa(ep.ID), redact.Link(ep.URL), strings.Join(ep.Filter.Resources, ","), joinIDs(ep.Filter.Connections),
			itoa(ep.Delivered), pending, lagText, formatTime(ep.LastSuccessAt), formatTime(ep.FailingSince),
			strconv.Itoa(ep.Failures), oneLine(lastErr, 100))
	}
	return w.Flush()
}

func joinIDs(ids []int64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = itoa(id)
	}
	return strings.Join(s, ",")
}

func (c *WebhooksCommand) remove(ctx context.Context, args []string) error {
	fs := c.flagSet("webhooks remove", "webhooks remove ID [flags]", "Stop delivering to an endpoint and forget it.")
	return c.onEndpoint(ctx, fs, args, func(st *store.Store, id int64) error {
		if err := st.RemoveWebhook(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(c.Stdout, "webhook endpoint %d removed\n", id)
		return nil
	})
}

func (c *WebhooksCommand) reset(ctx context.Context, args []string) error {
	fs := c.flagSet("webhooks reset", "webhooks reset ID --to now|start|CURSOR [flags]",
		"Move an endpoint's cursor: after it fell behind the feed's retention (start: the oldest change kept),\n"+
			"or to skip or replay changes. What lies between is not delivered, or delivered again.")
	to := fs.String("to", "", "now, start or a cursor")
	return c.onEndpoint(ctx, fs, args, func(st *store.Store, id int64) error {
		if *to == "" {
			return usageErrorf("webhooks reset needs --to now, start or a cursor")
		}
		cur, err := cursorArg(ctx, st, *to)
		if err != nil {
			return err
		}
		if err := st.ResetWebhook(ctx, id, cur); err != nil {
			return err
		}
		fmt.Fprintf(c.Stdout, "webhook endpoint %d now delivers after cursor %q\n", id, cur.String())
		return nil
	})
}

// onEndpoint opens the store and runs fn on the endpoint the one argument
// names, saying so when it does not exist.
func (c *WebhooksCommand) onEndpoint(ctx context.Context, fs *flag.FlagSet, args []string, fn func(*store.Store, int64) error) error {
	st, err := c.open(ctx, fs, args, 1, "an endpoint ID", false)
	if err != nil {
		return err
	}
	defer st.Close()
	id, err := endpointID(fs.Arg(0))
	if err != nil {
		return err
	}
	if err := fn(st, id); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("webhook endpoint %d does not exist", id)
	} else if err != nil {
		return err
	}
	return nil
}

func endpointID(arg string) (int64, error) {
	id, err := strconv.ParseInt(arg, 10, 64)
	if err != nil || id <= 0 {
		return 0, usageErrorf("endpoint ID %q is not a positive number", arg)
	}
	return id, nil
}
