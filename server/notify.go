package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// ListenNotifications opens the notification endpoint's listener on addr
// (GRAPHSYNC_NOTIFY_ADDR), before the worker that needs its URL is built.
func ListenNotifications(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on GRAPHSYNC_NOTIFY_ADDR %s: %w", addr, err)
	}
	return ln, nil
}

// StartNotifications serves Graph's change notifications (h, the
// notify.Receiver) on a listener of its own: the one address that must be
// reachable from the internet (through a TLS-terminating proxy), while
// /metrics and River UI stay private.
func StartNotifications(ln net.Listener, h http.Handler, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// Graph wants an answer within 3 seconds (10 for the handshake).
	s := &Server{srv: &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 10 * time.Second}, ln: ln}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("notification endpoint", "error", err)
		}
	}()
	log.Info("change notification endpoint", "addr", ln.Addr().String())
	return s
}
