package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/graphsync/graphsync/graph"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/config"
	"github.com/graphsync/graphsync/store"
	"github.com/graphsync/graphsync/token"
)

// mailboxes shows, adds or removes the shared and delegated mailboxes a
// delegated connection syncs besides its user's own.
func (c *ConnectionsCommand) mailboxes(ctx context.Context, args []string) error {
	fs := c.flagSet("connections mailboxes", "connections mailboxes ID [--add ADDRESS,...] [--remove ADDRESS,...] [flags]",
		"Show, add or remove the other users' mailboxes a delegated connection syncs besides its own (shared or delegated\n"+
			"mailboxes its user may read): their mail and calendar get streams, a throttling budget and rows of their own, tagged\n"+
			"with the mailbox's user id. The user must have granted Mail.Read.Shared (and Calendars.Read.Shared):\n"+
			"graphsync connect --extra-scopes Mail.Read.Shared,Calendars.Read.Shared,User.ReadBasic.All (the last to name\n"+
			"the mailbox by its owner's user id). Removing a mailbox retires its rows.")
	add := fs.String("add", "", "comma-separated mailboxes (e-mail addresses or user ids) to start syncing")
	remove := fs.String("remove", "", "comma-separated mailboxes to stop syncing")
	cfg, err := c.load(fs, args, config.Need{Database: true, Keys: true, App: *add != ""})
	if err != nil {
		return err
	}
	if err := wantArgs(fs, 1, "a connection ID"); err != nil {
		return err
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
	if cn.Kind != store.KindDelegated && (*add != "" || *remove != "") {
		return usageErrorf("connection %d is an application connection: it reads every mailbox of its tenant already", cn.ID)
	}
	for _, m := range splitList(*remove) {
		ok, err := st.RemoveMailbox(ctx, cn.ID, m)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("connection %d does not sync mailbox %s", cn.ID, m)
		}
		fmt.Fprintf(c.Stdout, "removed mailbox %s; its rows are retired\n", m)
	}
	if adds := splitList(*add); len(adds) > 0 {
		if err := sharedGranted(cn); err != nil {
			return err
		}
		w, err := newWorker(cfg, st, newLogger(cfg, io.Discard), nil)
		if err != nil {
			return err
		}
		tok, _, err := w.Tokens.Get(ctx, cn.ID, token.Graph)
		if err != nil {
			return fmt.Errorf("access token of connection %d: %w", cn.ID, err)
		}
		for _, a := range adds {
			m, err := resolveMailbox(ctx, w.Graph, graph.Call{Token: tok, Tenant: cn.TenantID, Service: graphsync.Directory, Resource: "users"}, a)
			if err != nil {
				fmt.Fprintf(c.Stderr, "graphsync: could not read %s in the directory (%v): its rows are tagged with the address; "+
					"grant User.ReadBasic.All (connect --extra-scopes) to tag them with its user id\n", a, err)
			}
			if m.UserID == cn.UserID {
				return usageErrorf("%s is the connection's own mailbox", a)
			}
			if err := st.AddMailbox(ctx, cn.ID, m); err != nil {
				return err
			}
			fmt.Fprintf(c.Stdout, "added mailbox %s (user %s); the next sync pass reads it\n", a, m.UserID)
		}
	}
	ms, err := st.Mailboxes(ctx, cn.ID)
	if err != nil {
		return err
	}
	tw := table(c.Stdout)
	row(tw, "MAILBOX", "USER ID", "NAME", "STATUS", "LAST ERROR")
	for _, m := range ms {
		row(tw, m.Address, m.UserID, m.DisplayName, m.Status, oneLine(m.LastError, 60))
	}
	return tw.Flush()
}

// sharedGranted checks that a connection's grant reads shared mailboxes.
func sharedGranted(cn *store.Connection) error {
	var missing []string
	for _, r := range graphsync.Shareable(cn.Resources) {
		if !graphsync.Granted(cn.Scopes, r.SharedPermission()) {
			missing = append(missing, r.SharedPermission())
		}
	}
	if len(graphsync.Shareable(cn.Resources)) == 0 {
		return usageErrorf("connection %d syncs no resource a shared mailbox gives (mail, calendar, contacts)", cn.ID)
	}
	if len(missing) > 0 {
		return usageErrorf("connection %d was not granted %s: sign its user in again with graphsync connect --extra-scopes %s",
			cn.ID, strings.Join(missing, ", "), strings.Join(missing, ","))
	}
	return nil
}

// resolveMailbox names a mailbox by its owner's user id, read from the
// directory; where the directory cannot be read (the grant lacks
// User.ReadBasic.All), the address itself, lower-cased, serves as the id:
// Graph takes a user principal name wherever it takes a user id.
func resolveMailbox(ctx context.Context, g *graph.Client, call graph.Call, address string) (store.Mailbox, error) {
	var u struct {
		ID          string `json:"id"`
		DisplayName string `json:"displayName"`
	}
	err := g.Get(ctx, call, "/users/"+url.PathEscape(address)+"?$select=id,displayName", &u)
	if err == nil && u.ID == "" {
		err = fmt.Errorf("the directory returned no id")
	}
	if err != nil {
		return store.Mailbox{UserID: strings.ToLower(address), Address: address}, err
	}
	return store.Mailbox{UserID: u.ID, Address: address, DisplayName: u.DisplayName}, nil
}

// splitList splits a comma-separated flag value.
func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}
