// Command graphsync-bench runs graphsync's benchmarks against the emulator
// and a PostgreSQL server, prints one table and writes docs/benchmarks.md.
//
//	DATABASE_URL=postgres://... graphsync-bench [--quick] [--only ingest,fleet] [--out docs/benchmarks.md]
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/graphsync/graphsync/internal/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "graphsync-bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "worker" {
		return bench.RunWorker(ctx)
	}
	if len(args) > 0 && args[0] == "demo" {
		return bench.RunDemo(ctx)
	}
	fs := flag.NewFlagSet("graphsync-bench", flag.ContinueOnError)
	quick := fs.Bool("quick", false, "small volumes, to check the harness in a minute or two")
	only := fs.String("only", "", "comma-separated scenarios to run: "+strings.Join(bench.Names(), ", "))
	out := fs.String("out", "", "write the results as Markdown to this file (e.g. docs/benchmarks.md)")
	profiles := fs.String("profiles", "bench-out", "directory for the workers' CPU and heap profiles (empty: none)")
	fleet := fs.Int("fleet", 0, "connections in the idle fleet (default 10,000; 300 with --quick)")
	memMsgs := fs.Int("memory-messages", 0, "messages in the memory scenario's mailbox (default 1,000,000; 50,000 with --quick)")
	ingestMsgs := fs.Int("ingest-messages", 0, "messages in the ingest scenario (default 200,000; 20,000 with --quick)")
	ingestMailboxes := fs.Int("ingest-mailboxes", 0, "mailboxes the ingest scenario's messages are spread over (default 8; 4 with --quick)")
	pageSize := fs.String("page-size", "", "the workers' GRAPHSYNC_PAGE_SIZE (default: graphsync's default)")
	conditions := fs.String("conditions", "", "a sentence on the conditions of the run, for the Markdown")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dbURL := os.Getenv("DATABASE_URL")
	if dbURL == "" {
		return fmt.Errorf("DATABASE_URL is not set (make bench provides one)")
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	o := bench.Options{DatabaseURL: dbURL, Self: self, Quick: *quick, Profiles: *profiles, Fleet: *fleet, MemoryMessages: *memMsgs, IngestMessages: *ingestMsgs,
		PageSize: *pageSize, IngestMailboxes: *ingestMailboxes,
		Log: slog.New(slog.NewTextHandler(os.Stderr, nil))}
	if *only != "" {
		o.Only = strings.Split(*only, ",")
	}
	if *profiles != "" {
		// This process serves the emulator: its profile shows whether the
		// emulator, rather than graphsync, limited a figure.
		stop, err := bench.ProfileCPU(filepath.Join(*profiles, "emulator.cpu.pprof"))
		if err != nil {
			return err
		}
		defer stop()
	}
	rep, err := bench.Run(ctx, o)
	if err != nil {
		return err
	}
	rep.WriteTable(os.Stdout)
	if *out != "" {
		cmd := "make bench"
		if flags := benchFlags(fs); flags != "" {
			cmd += " BENCH_FLAGS='" + flags + "'"
		}
		md := rep.Markdown(bench.Describe(ctx, dbURL), cmd, *conditions)
		if err := os.WriteFile(*out, []byte(md), 0o644); err != nil {
			return err
		}
	}
	if len(rep.Errors) > 0 {
		return fmt.Errorf("%d scenario(s) failed", len(rep.Errors))
	}
	return nil
}

// benchFlags repeats the flags that change volumes, for the reproduce line.
func benchFlags(fs *flag.FlagSet) string {
	var out []string
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "quick", "fleet", "memory-messages", "ingest-messages", "only", "page-size", "ingest-mailboxes":
			out = append(out, "--"+f.Name+"="+f.Value.String())
		}
	})
	return strings.Join(out, " ")
}
