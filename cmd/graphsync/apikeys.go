package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/graphsync/graphsync/store"
)

// APIKeysCommand manages the keys apps use with the worker's API.
type APIKeysCommand struct{ *Main }

const apikeysUsage = "apikeys create --name NAME [--connections IDS|--all] [--scopes LIST] [--expires D]|list|revoke ID [flags]"

func (c *APIKeysCommand) Run(ctx context.Context, args []string) error {
	return c.runSubcommand(ctx, "apikeys", apikeysUsage, []subcommand{
		{"create", c.create}, {"list", c.list}, {"revoke", c.revoke},
	}, args)
}

func (c *APIKeysCommand) create(ctx context.Context, args []string) error {
	fs := c.flagSet("apikeys create", "apikeys create --name NAME [--connections IDS|--all] [--scopes LIST] [--expires D] [flags]",
		"Create a key for an app to call the worker's API (/v1/) with, as a bearer token. The key is printed once;\n"+
			"only its hash is stored. A key without --all may use the connections listed, if any, and those made\n"+
			"through the connect sessions it creates.")
	name := fs.String("name", "", "what the key is for (which app)")
	conns := fs.String("connections", "", "the connections the key may use, comma-separated ids")
	all := fs.Bool("all", false, "the key may use every connection, present and future")
	scopes := fs.String("scopes", strings.Join(store.APIScopes, ","), "what the key may do, comma-separated: connect, token, proxy, changes")
	expires := fs.String("expires", "", "when the key stops working: a duration (720h, 90d) or a date (YYYY-MM-DD, RFC 3339); default never")
	st, err := c.open(ctx, fs, args, 0, "", false)
	if err != nil {
		return err
	}
	defer st.Close()
	n := store.NewAPIKey{Name: *name, All: *all}
	if *name == "" {
		return usageErrorf("apikeys create needs --name")
	}
	if *all && *conns != "" {
		return usageErrorf("apikeys create takes --all or --connections IDS, not both")
	}
	for _, s := range strings.Split(*scopes, ",") {
		if s = strings.TrimSpace(s); s != "" {
			n.Scopes = append(n.Scopes, s)
		}
	}
	if *conns != "" {
		for _, s := range strings.Split(*conns, ",") {
			id, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
			if err != nil {
				return usageErrorf("--connections: %q is not a connection id", s)
			}
			if _, err := existingConnection(ctx, st, id); err != nil {
				return err
			}
			n.Connections = append(n.Connections, id)
		}
	}
	if *expires != "" {
		if n.ExpiresAt, err = parseExpiry(*expires, time.Now()); err != nil {
			return &usageError{err}
		}
	}
	key, k, err := st.CreateAPIKey(ctx, n)
	if err != nil {
		return &usageError{err}
	}
	fmt.Fprintf(c.Stdout, "API key %d (%s) created; it is shown once, keep it secret:\n%s\n", k.ID, k.Name, key)
	return nil
}

// parseExpiry reads --expires: a duration from now (Go's, or whole days
// as 90d) or a date.
func parseExpiry(s string, now time.Time) (time.Time, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n > 0 {
			return now.AddDate(0, 0, n), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(d), nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			if !t.After(now) {
				return time.Time{}, fmt.Errorf("--expires %s is in the past", s)
			}
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--expires %q is neither a positive duration (720h, 90d) nor a date (YYYY-MM-DD, RFC 3339)", s)
}

func (c *APIKeysCommand) list(ctx context.Context, args []string) error {
	fs := c.flagSet("apikeys list", "apikeys list [flags]", "List the API keys: their scopes, connections, expiry, revocation and last use (never the keys).")
	st, err := c.open(ctx, fs, args, 0, "", false)
	if err != nil {
		return err
	}
	defer st.Close()
	keys, err := st.APIKeys(ctx)
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		fmt.Fprintln(c.Stdout, "No API keys: create one with `graphsync apikeys create --name NAME --all`.")
		return nil
	}
	now := time.Now()
	w := table(c.Stdout)
	row(w, "ID", "NAME", "PREFIX", "SCOPES", "CONNECTIONS", "STATE", "EXPIRES", "LAST USED", "CREATED")
	for _, k := range keys {
		conns := joinIDs(k.Connections)
		if k.All {
			conns = "all"
		}
		state := "active"
		switch {
		case k.RevokedAt != nil:
			state = "revoked " + formatTime(k.RevokedAt)
		case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
			state = "expired"
		}
		row(w, itoa(k.ID), k.Name, "gsk_"+k.Prefix+"_…", strings.Join(k.Scopes, ","), conns, state, formatTime(k.ExpiresAt),
			formatTime(k.LastUsedAt), formatTime(&k.CreatedAt))
	}
	return w.Flush()
}

func (c *APIKeysCommand) revoke(ctx context.Context, args []string) error {
	fs := c.flagSet("apikeys revoke", "apikeys revoke ID [flags]", "Revoke an API key: every request with it is refused from now on.")
	st, err := c.open(ctx, fs, args, 1, "a key ID", false)
	if err != nil {
		return err
	}
	defer st.Close()
	id, err := strconv.ParseInt(fs.Arg(0), 10, 64)
	if err != nil || id <= 0 {
		return usageErrorf("key ID %q is not a positive number", fs.Arg(0))
	}
	if err := st.RevokeAPIKey(ctx, id); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("API key %d does not exist", id)
	} else if err != nil {
		return err
	}
	fmt.Fprintf(c.Stdout, "API key %d revoked\n", id)
	return nil
}
