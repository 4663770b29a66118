package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/graphsync/graphsync/graph"
	"github.com/graphsync/graphsync/identity"
	"github.com/graphsync/graphsync/internal/config"
	"github.com/graphsync/graphsync/internal/progress"
	"github.com/graphsync/graphsync/jobs"
)

// newLogger builds the slog logger GRAPHSYNC_LOG_FORMAT and _LEVEL ask for:
// JSON, text, or auto (text on a terminal, JSON otherwise). Lines logged
// while a job is worked name its connection and resource, and an error from
// Graph adds the request-id of the failing request as its own attribute.
// Durations are logged in milliseconds, their keys ending in _ms.
func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: millisecondDurations}
	var h slog.Handler
	if cfg.LogFormat == "text" || (cfg.LogFormat == "auto" && progress.IsTerminal(w)) {
		h = slog.NewTextHandler(w, opts)
	} else {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(&contextHandler{inner: h})
}

// millisecondDurations writes a duration as a number of milliseconds under
// its key plus _ms (duration_ms, retry_after_ms): slog's JSON handler would
// write nanoseconds under the bare key, a unit nobody reading logs expects.
func millisecondDurations(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() != slog.KindDuration {
		return a
	}
	ms := float64(a.Value.Duration()) / float64(time.Millisecond)
	return slog.Float64(strings.TrimSuffix(a.Key, "_ms")+"_ms", math.Round(ms*1000)/1000)
}

// contextHandler adds the job attributes from the context (jobs.LogAttrs)
// that the logger does not carry already, and the ids of errors from Graph
// and the identity platform.
type contextHandler struct {
	inner slog.Handler
	keys  []string // top-level keys given to WithAttrs
	group bool     // after WithGroup, job attributes would land in the group: left out
}

func (h *contextHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *contextHandler) Handle(ctx context.Context, r slog.Record) error {
	var extra []slog.Attr
	have := func(key string) bool {
		if slices.Contains(h.keys, key) {
			return true
		}
		found := false
		r.Attrs(func(a slog.Attr) bool {
			found = a.Key == key
			return !found
		})
		return found || slices.ContainsFunc(extra, func(a slog.Attr) bool { return a.Key == key })
	}
	if !h.group {
		for _, a := range jobs.LogAttrs(ctx) {
			if !have(a.Key) {
				extra = append(extra, a)
			}
		}
	}
	r.Attrs(func(a slog.Attr) bool {
		err, ok := a.Value.Any().(error)
		if !ok {
			return true
		}
		var ge *graph.Error
		if errors.As(err, &ge) && ge.RequestID != "" && !have("request_id") {
			extra = append(extra, slog.String("request_id", ge.RequestID))
		}
		var te *identity.TokenError
		if errors.As(err, &te) {
			if te.TraceID != "" && !have("trace_id") {
				extra = append(extra, slog.String("trace_id", te.TraceID))
			}
			if te.CorrelationID != "" && !have("correlation_id") {
				extra = append(extra, slog.String("correlation_id", te.CorrelationID))
			}
		}
		return true
	})
	if len(extra) > 0 {
		r = r.Clone()
		r.AddAttrs(extra...)
	}
	return h.inner.Handle(ctx, r)
}

func (h *contextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	keys := slices.Clone(h.keys)
	if !h.group {
		for _, a := range attrs {
			keys = append(keys, a.Key)
		}
	}
	return &contextHandler{inner: h.inner.WithAttrs(attrs), keys: keys, group: h.group}
}

func (h *contextHandler) WithGroup(name string) slog.Handler {
	return &contextHandler{inner: h.inner.WithGroup(name), keys: h.keys, group: true}
}
