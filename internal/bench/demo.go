package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/graphsync/graphsync/internal/demo"
	"github.com/graphsync/graphsync/internal/proc"
)

// demoEnv carries a child demo's options.
const demoEnv = "GRAPHSYNC_BENCH_DEMO"

// demoMemory runs `make demo` (with its default volume, 5 users × 10,000
// messages) as a process of its own and reports its peak resident set: it
// is the first thing a user runs, often on a small machine.
func demoMemory(ctx context.Context, o *Options, rep *Report) error {
	const name = "demo"
	opts := demo.Options{Users: 5, Messages: o.size(10_000, 2_000), Mutations: 2000, Throttle: true, Seed: 1}
	b, err := json.Marshal(opts)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, o.Self, "demo")
	cmd.Env = append(os.Environ(), demoEnv+"="+string(b), "DATABASE_URL="+o.DatabaseURL)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("demo: %w\n%s", err, out.String())
	}
	// The child's own VmHWM: wait4's rusage would report this process's
	// peak, which a child of os/exec inherits until it execs.
	last := strings.TrimSpace(out.String())
	last = last[strings.LastIndexByte(last, '\n')+1:]
	v, ok := strings.CutPrefix(last, peakPrefix)
	rss, err := strconv.ParseInt(v, 10, 64)
	if !ok || err != nil {
		return fmt.Errorf("demo: no peak RSS in its output's last line %q", last)
	}
	mb := float64(rss) / (1 << 20)
	full := opts.Messages == 10_000
	rep.add(name, fmt.Sprintf("make demo (%d users × %s messages): peak RSS", opts.Users, count(opts.Messages)),
		fmt.Sprintf("%.0f MB", mb), "< 1 GB", map[bool]*bool{true: ptr(mb < 1024)}[full])
	rep.add(name, "make demo: wall time", time.Since(start).Round(time.Second).String(), "", nil)
	return nil
}

// peakPrefix starts the demo child's last line: its peak RSS in bytes.
const peakPrefix = "peak_rss_bytes "

// RunDemo is the body of the demo child process: the demo with the
// options in the environment, its output discarded, then its peak RSS.
func RunDemo(ctx context.Context) error {
	var o demo.Options
	if err := json.Unmarshal([]byte(os.Getenv(demoEnv)), &o); err != nil {
		return fmt.Errorf("bench demo: %s: %w", demoEnv, err)
	}
	if err := demo.Run(ctx, o, io.Discard, os.Stderr); err != nil {
		return err
	}
	rss, err := proc.PeakRSS(0)
	if err != nil {
		return fmt.Errorf("bench demo: %w", err)
	}
	fmt.Printf("\n%s%d\n", peakPrefix, rss)
	return nil
}
