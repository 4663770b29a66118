package main

import (
	"context"
	"fmt"

	"github.com/graphsync/graphsync/internal/config"
	"github.com/graphsync/graphsync/store"
)

// KeysCommand manages the keys that encrypt tokens at rest.
type KeysCommand struct{ *Main }

func (c *KeysCommand) Run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usageErrorf("keys needs a subcommand: generate or rotate")
	}
	switch args[0] {
	case "generate":
		return c.generate(args[1:])
	case "rotate":
		return c.rotate(ctx, args[1:])
	case "-h", "-help", "--help":
		fmt.Fprintln(c.Stdout, "Usage: graphsync keys generate|rotate [flags]")
		return nil
	}
	return usageErrorf("unknown keys subcommand %q: want generate or rotate", args[0])
}

func (c *KeysCommand) generate(args []string) error {
	fs := c.flagSet("keys generate", "keys generate",
		"Print a new random encryption key for GRAPHSYNC_ENCRYPTION_KEY.\n"+
			"To rotate, put the new key first (new,old), run `graphsync keys rotate`, then drop the old one.")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if err := wantArgs(fs, 0, ""); err != nil {
		return err
	}
	key, err := store.GenerateKey()
	if err != nil {
		return fmt.Errorf("generate key: %w", err)
	}
	fmt.Fprintln(c.Stdout, key)
	return nil
}

func (c *KeysCommand) rotate(ctx context.Context, args []string) error {
	fs := c.flagSet("keys rotate", "keys rotate [flags]",
		"Re-encrypt every connection's tokens under the first key of GRAPHSYNC_ENCRYPTION_KEY.\n"+
			"Workers may keep running: each row is re-encrypted in its own transaction.")
	cfg, err := c.load(fs, args, config.Need{Database: true, Keys: true})
	if err != nil {
		return err
	}
	if err := wantArgs(fs, 0, ""); err != nil {
		return err
	}
	st, err := openStore(ctx, cfg, true)
	if err != nil {
		return err
	}
	defer st.Close()
	n, err := st.RotateKeys(ctx)
	if err != nil {
		return err // the store names what it was doing
	}
	fmt.Fprintf(c.Stdout, "re-encrypted %d connection(s) under key %s\n", n, st.Keys().PrimaryID())
	return nil
}
