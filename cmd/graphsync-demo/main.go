// Command graphsync-demo runs graphsync's whole pipeline against the bundled
// Microsoft Graph emulator and a local PostgreSQL (`make demo`). It is a
// binary of its own so that graphsync, the binary operators deploy, carries
// neither the emulator nor the code that installs and starts PostgreSQL.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/graphsync/graphsync/internal/demo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: it returns the exit code (2 for a usage
// error).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("graphsync-demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := demo.Options{}
	fs.IntVar(&o.Users, "users", 3, "emulated users (mailboxes)")
	fs.IntVar(&o.Messages, "messages", 1000, "messages per user (the demo shows the pipeline; make bench measures volume)")
	fs.IntVar(&o.Mutations, "mutations", 300, "changes applied between the two syncs")
	fs.BoolVar(&o.Throttle, "throttle", true, "apply a scaled-down Outlook throttling profile (shows Retry-After being honoured)")
	fs.Int64Var(&o.Seed, "seed", 1, "emulator seed")
	fs.BoolVar(&o.Keep, "keep", false, "keep the demo's database on the server DATABASE_URL names (dropped at the end otherwise)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "graphsync-demo: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if err := o.Validate(); err != nil {
		fmt.Fprintln(stderr, "graphsync-demo:", err)
		return 2
	}
	if err := demo.Run(ctx, o, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "graphsync-demo:", err)
		return 1
	}
	return 0
}
