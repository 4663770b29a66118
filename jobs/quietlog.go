package jobs

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// riverLogEvery is how often the same warning or error from River is
// logged: River retries a lost database on every poll, which would log the
// outage about twice a second.
const riverLogEvery = 30 * time.Second

// quietHandler passes a record at warning level or above at most once per
// every for each message; the next one it passes says how many it left out.
// Records below warning pass untouched.
type quietHandler struct {
	inner slog.Handler
	every time.Duration
	state *quietState
}

type quietState struct {
	mu   sync.Mutex
	seen map[string]*quietMessage
}

type quietMessage struct {
	last       time.Time
	suppressed int
}

func newQuietHandler(inner slog.Handler, every time.Duration) *quietHandler {
	return &quietHandler{inner: inner, every: every, state: &quietState{seen: map[string]*quietMessage{}}}
}

func (h *quietHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *quietHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		return h.inner.Handle(ctx, r)
	}
	h.state.mu.Lock()
	m := h.state.seen[r.Message]
	if m == nil {
		m = &quietMessage{}
		h.state.seen[r.Message] = m
	}
	if !m.last.IsZero() && r.Time.Sub(m.last) < h.every {
		m.suppressed++
		h.state.mu.Unlock()
		return nil
	}
	suppressed := m.suppressed
	m.last, m.suppressed = r.Time, 0
	h.state.mu.Unlock()
	if suppressed > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Int("repeats_not_logged", suppressed))
	}
	return h.inner.Handle(ctx, r)
}

func (h *quietHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &quietHandler{inner: h.inner.WithAttrs(attrs), every: h.every, state: h.state}
}

func (h *quietHandler) WithGroup(name string) slog.Handler {
	return &quietHandler{inner: h.inner.WithGroup(name), every: h.every, state: h.state}
}
