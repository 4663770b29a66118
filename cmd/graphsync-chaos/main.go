// Command graphsync-chaos runs graphsync's worker processes against the
// emulator while killing them, restarting PostgreSQL and injecting faults,
// then checks that the database equals the emulator's ground truth. It
// exits non-zero, naming each violation, when a rule was broken.
//
//	graphsync-chaos [--duration 8m] [--kills 24] [--binary bin/graphsync]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/graphsync/graphsync/internal/chaos"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "graphsync-chaos:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	var o chaos.Options
	fs := flag.NewFlagSet("graphsync-chaos", flag.ContinueOnError)
	fs.DurationVar(&o.Duration, "duration", 8*time.Minute, "length of the chaos phase (kills, faults, mutations) before the clean sync")
	fs.IntVar(&o.Users, "users", 5, "emulated users")
	fs.IntVar(&o.MessagesPerUser, "messages", 20000, "messages per user")
	fs.IntVar(&o.Kills, "kills", 24, "SIGKILLs spread over the chaos phase")
	fs.IntVar(&o.RiverRescues, "river-rescues", 6, "how many of the last kills leave the killed worker's jobs to River's rescuer instead of the harness")
	fs.IntVar(&o.PostgresRestarts, "pg-restarts", 1, "PostgreSQL restarts with immediate shutdown")
	fs.IntVar(&o.Workers, "workers", 3, "worker processes at once during the multi-worker part")
	fs.Float64Var(&o.FaultRate, "faults", 0.05, "share of Graph responses faulted")
	fs.Float64Var(&o.MutationRate, "mutations", 20, "changes per second in the tenant")
	fs.DurationVar(&o.GraphTimeout, "graph-timeout", 5*time.Second, "the workers' Graph request timeout")
	fs.Int64Var(&o.Seed, "seed", 1, "seed of the tenant, the mutations and the kill times")
	fs.StringVar(&o.Binary, "binary", "", "graphsync executable (built when empty)")
	fs.StringVar(&o.Dir, "dir", "", "directory for the workers' logs (temporary when empty)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.Duration > 10*time.Minute {
		return fmt.Errorf("--duration %s: the run is bounded to 10 minutes of chaos", o.Duration)
	}
	o.Out = os.Stdout
	rep, err := chaos.Run(ctx, o)
	if rep != nil {
		fmt.Println()
		rep.Print(os.Stdout)
	}
	if err != nil {
		return err
	}
	if n := len(rep.Violations); n > 0 {
		return fmt.Errorf("%d violations", n)
	}
	return nil
}
