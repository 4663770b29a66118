package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

// scopeWarnings names each of rs whose permission cn was not granted.
func scopeWarnings(cn *store.Connection, rs []*graphsync.Resource) []string {
	var out []string
	for _, r := range rs {
		if need := r.Permission(cn.Kind == store.KindApplication); need != "" && !graphsync.Granted(cn.Scopes, need) {
			out = append(out, fmt.Sprintf("%s needs the %s permission, which connection %d was not granted; "+
				"it will show missing_scope until the connection is consented again", r, need, cn.ID))
		}
	}
	return out
}

// resources enables and disables resources of one connection.
func (c *ConnectionsCommand) resources(ctx context.Context, args []string) error {
	fs := c.flagSet("connections resources", "connections resources ID [--enable LIST] [--disable LIST] [flags]",
		"Show, enable or disable the resources synced for a connection. Disabling keeps the rows synced so far;\n"+
			"enabling a resource whose permission was not granted needs the user (or admin) to consent again.")
	enable := fs.String("enable", "", "comma-separated resources to start syncing")
	disable := fs.String("disable", "", "comma-separated resources to stop syncing")
	st, cn, err := c.openConnection(ctx, fs, args)
	if err != nil {
		return err
	}
	defer st.Close()
	var on, off []*graphsync.Resource
	if *enable != "" {
		if on, err = parseResources(*enable); err != nil {
			return err
		}
	}
	if *disable != "" {
		if off, err = parseResources(*disable); err != nil {
			return err
		}
	}
	for _, r := range on {
		if slices.Contains(off, r) {
			return usageErrorf("resource %q is both enabled and disabled", r.Name())
		}
	}
	if len(on)+len(off) > 0 {
		next := slices.DeleteFunc(slices.Clone(cn.Resources), func(r *graphsync.Resource) bool { return slices.Contains(off, r) })
		for _, r := range on {
			if !slices.Contains(next, r) {
				next = append(next, r)
			}
		}
		if err := st.SetResources(ctx, cn.ID, next); err != nil {
			return err
		}
		cn.Resources = next
		for _, w := range scopeWarnings(cn, on) {
			fmt.Fprintf(c.Stderr, "warning: %s\n", w)
		}
	}
	fmt.Fprintf(c.Stdout, "connection %d (%s) syncs: %s\n", cn.ID, describe(cn), strings.Join(graphsync.Names(cn.Resources), ", "))
	return nil
}
