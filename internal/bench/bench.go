// Package bench measures graphsync against the emulator and PostgreSQL:
// ingest throughput against a plain COPY, the emulator alone, gentleness
// under throttling, an idle fleet's incremental pass, peak memory and
// scale-out across worker processes. Every figure is a ratio or a count
// taken in the same run, since absolute times depend on the machine.
package bench

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/config"
)

// Options configures a run.
type Options struct {
	// DatabaseURL names a PostgreSQL server; each scenario creates and drops
	// a database of its own on it.
	DatabaseURL string
	// Self is the executable that runs `worker` for child worker processes.
	Self string
	// Quick shrinks every volume, for checking the harness.
	Quick bool
	// Only runs the named scenarios (all when empty).
	Only []string
	// Fleet and MemoryMessages override the idle fleet's connections and
	// the memory scenario's mailbox size (0: 10,000 and 1,000,000).
	Fleet, MemoryMessages int
	// IngestMessages overrides the ingest volume (0: 200,000).
	IngestMessages int
	// IngestMailboxes overrides the mailboxes the ingest volume is spread
	// over (0: 8).
	IngestMailboxes int
	// PageSize is the workers' GRAPHSYNC_PAGE_SIZE (its default when empty).
	PageSize string
	// Profiles is the directory receiving CPU and heap profiles ("" for none).
	Profiles string
	Log      *slog.Logger
}

// Row is one line of the results table.
type Row struct {
	Scenario, Measure, Value, Target string
	// Met is "yes", "no", or "" when the measure has no target.
	Met string
}

// Report is the outcome of a run.
type Report struct {
	Rows     []Row
	Started  time.Time
	Duration time.Duration
	Quick    bool
	Errors   []string
}

type scenario struct {
	name string
	run  func(ctx context.Context, o *Options, r *Report) error
}

var scenarios = []scenario{
	{"ingest", ingest},
	{"ingest-latency", ingestLatency},
	{"storage", storage},
	{"throttle", throttle},
	{"fleet", idleFleet},
	{"freshness", freshness},
	{"memory", memory},
	{"attachments", attachments},
	{"scale", scaleOut},
	{"demo", demoMemory},
}

// Names lists the scenarios in the order they run.
func Names() []string {
	out := make([]string, len(scenarios))
	for i, s := range scenarios {
		out[i] = s.name
	}
	return out
}

// Run runs the scenarios. A failing scenario is reported and the others
// still run.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if o.Profiles != "" {
		if err := os.MkdirAll(o.Profiles, 0o755); err != nil {
			return nil, err
		}
	}
	if _, err := (&config.Config{PageSize: o.pageSize()}).PageSizes(); err != nil {
		return nil, err
	}
	rep := &Report{Started: time.Now(), Quick: o.Quick}
	for _, s := range scenarios {
		if len(o.Only) > 0 && !contains(o.Only, s.name) {
			continue
		}
		t0 := time.Now()
		o.logf("%s: start", s.name)
		if err := s.run(ctx, &o, rep); err != nil {
			o.Log.Error("scenario failed", "scenario", s.name, "error", err)
			rep.Errors = append(rep.Errors, s.name+": "+err.Error())
			if ctx.Err() != nil {
				break
			}
		}
		o.logf("%s: done in %s", s.name, time.Since(t0).Round(time.Second))
	}
	rep.Duration = time.Since(rep.Started)
	return rep, nil
}

func (o *Options) logf(format string, args ...any) {
	o.Log.Info(fmt.Sprintf(format, args...))
}

// pageSize is the workers' GRAPHSYNC_PAGE_SIZE.
func (o *Options) pageSize() string {
	if o.PageSize == "" {
		return config.DefaultPageSize
	}
	return o.PageSize
}

// mailPageSize is the page size the workers ask mail in; readers that stand
// beside graphsync ask the same.
func (o *Options) mailPageSize() int {
	sizes, err := (&config.Config{PageSize: o.pageSize()}).PageSizes()
	if err != nil {
		return 0
	}
	return sizes[graphsync.Mail]
}

func (o *Options) size(full, quick int) int {
	if o.Quick {
		return quick
	}
	return full
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func (r *Report) add(scenario, measure, value, target string, met *bool) {
	row := Row{Scenario: scenario, Measure: measure, Value: value, Target: target}
	if met != nil {
		row.Met = "no"
		if *met {
			row.Met = "yes"
		}
	}
	r.Rows = append(r.Rows, row)
}

func ptr(b bool) *bool { return &b }

// WriteTable prints the results as an aligned text table.
func (r *Report) WriteTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tMEASURE\tVALUE\tTARGET\tMET")
	for _, row := range r.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", row.Scenario, row.Measure, row.Value, dash(row.Target), dash(row.Met))
	}
	_ = tw.Flush()
	for _, e := range r.Errors {
		fmt.Fprintln(w, "FAILED:", e)
	}
}

// Markdown renders the results with the machine and the command that
// reproduces them.
func (r *Report) Markdown(m Machine, command, conditions string) string {
	var b strings.Builder
	b.WriteString("# Benchmarks\n\n")
	b.WriteString("Generated by `" + command + "`; do not edit by hand. Every figure is a ratio or a count\n")
	b.WriteString("measured in the same run, since absolute times depend on the machine.\n\n")
	fmt.Fprintf(&b, "- Run: %s, %s in total%s\n", r.Started.UTC().Format("2006-01-02 15:04 UTC"), r.Duration.Round(time.Second), map[bool]string{true: " (quick mode: reduced volumes)"}[r.Quick])
	fmt.Fprintf(&b, "- Machine: %s, %d cores, %s RAM, %s\n", m.CPU, m.Cores, m.RAM, m.OS)
	fmt.Fprintf(&b, "- Software: %s, %s\n", m.Go, m.Postgres)
	if conditions != "" {
		fmt.Fprintf(&b, "- Conditions: %s\n", conditions)
	}
	b.WriteString("\n| Scenario | Measure | Value | Target | Met |\n|---|---|---|---|---|\n")
	for _, row := range r.Rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", row.Scenario, row.Measure, row.Value, dash(row.Target), dash(row.Met))
	}
	for _, e := range r.Errors {
		fmt.Fprintf(&b, "\nFailed: %s\n", e)
	}
	b.WriteString("\n")
	b.WriteString(notes)
	return b.String()
}

// notes explain the table; they carry no figures, so a run never leaves
// them stale.
//
//go:embed notes.md
var notes string

func dash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}
