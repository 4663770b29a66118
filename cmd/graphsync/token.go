package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/graphsync/graphsync/internal/config"
	"github.com/graphsync/graphsync/token"
)

// token prints a usable access token of a connection, for apps that call
// Graph or SharePoint themselves with graphsync's grant.
func (c *ConnectionsCommand) token(ctx context.Context, args []string) error {
	fs := c.flagSet("connections token", "connections token ID [--resource graph|sharepoint] [flags]",
		"Print a fresh access token of a connection on stdout, redeemed anew first when it is about to expire.\n"+
			"A SharePoint token needs a delegated connection granted Sites.Read.All.")
	resource := fs.String("resource", string(token.Graph), "the token's resource: graph or sharepoint")
	cfg, err := c.load(fs, args, config.Need{Database: true, Keys: true, App: true})
	if err != nil {
		return err
	}
	if err := wantArgs(fs, 1, "a connection ID"); err != nil {
		return err
	}
	kind, err := token.ParseKind(*resource)
	if err != nil {
		return &usageError{err}
	}
	st, err := openStore(ctx, cfg, true)
	if err != nil {
		return err
	}
	defer st.Close()
	cn, err := c.connection(ctx, st, fs.Arg(0))
	if err != nil {
		return err
	}
	w, err := newWorker(cfg, st, newLogger(cfg, io.Discard), nil)
	if err != nil {
		return err
	}
	tok, _, err := w.Tokens.Get(ctx, cn.ID, kind)
	if errors.Is(err, token.ErrNoSharePoint) {
		return fmt.Errorf("connection %d has no SharePoint token: sign in again granting Sites.Read.All", cn.ID)
	}
	if err != nil {
		return fmt.Errorf("access token of connection %d: %w", cn.ID, err)
	}
	fmt.Fprintln(c.Stdout, tok)
	return nil
}
