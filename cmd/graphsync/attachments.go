package main

import (
	"context"
	"fmt"

	"github.com/graphsync/graphsync/internal/config"
)

// attachments shows or sets whether a connection keeps its mail
// attachments' content, overriding the worker's GRAPHSYNC_ATTACHMENT_CONTENT.
func (c *ConnectionsCommand) attachments(ctx context.Context, args []string) error {
	fs := c.flagSet("connections attachments", "connections attachments ID [--content on|off|default] [flags]",
		"Show or set whether a connection keeps its mail attachments' content (large objects with a SHA-256, up to\n"+
			"GRAPHSYNC_ATTACHMENT_MAX_BYTES) besides their metadata, which is always kept. \"default\" follows the worker's\n"+
			"GRAPHSYNC_ATTACHMENT_CONTENT. Content is fetched for attachments synced after the change.")
	content := fs.String("content", "", "on, off or default")
	cfg, err := c.load(fs, args, config.Need{Database: true})
	if err != nil {
		return err
	}
	if err := wantArgs(fs, 1, "a connection ID"); err != nil {
		return err
	}
	var set *bool
	switch *content {
	case "", "default":
	case "on", "off":
		on := *content == "on"
		set = &on
	default:
		return usageErrorf("--content %q: want on, off or default", *content)
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
	if *content != "" {
		if err := st.SetAttachmentContent(ctx, cn.ID, set); err != nil {
			return fmt.Errorf("connection %d: %w", cn.ID, err)
		}
	}
	def, _, err := cfg.Attachments()
	if err != nil {
		return err
	}
	on, source := def, "the worker's default, GRAPHSYNC_ATTACHMENT_CONTENT"
	own, err := st.AttachmentContent(ctx, cn.ID)
	if err != nil {
		return fmt.Errorf("connection %d: %w", cn.ID, err)
	}
	if own != nil {
		on, source = *own, "its own setting"
	}
	fmt.Fprintf(c.Stdout, "connection %d keeps attachment content: %s (%s)\n", cn.ID, onOff(on), source)
	return nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
