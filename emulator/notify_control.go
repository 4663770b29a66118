package emulator

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// serveNotificationControl serves the change notification routes of the
// control plane; it reports whether p (the path after /_emulator/, split)
// was one of them.
func (em *Emulator) serveNotificationControl(w http.ResponseWriter, r *http.Request, p []string) bool {
	reply := func(v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	done := func(err error) {
		switch {
		case err == nil:
			w.WriteHeader(http.StatusNoContent)
		case errors.Is(err, errNoSubscription):
			http.Error(w, err.Error(), http.StatusNotFound)
		default:
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	}
	post := r.Method == http.MethodPost
	switch {
	case len(p) == 1 && p[0] == "subscriptions" && r.Method == http.MethodGet:
		reply(em.Subscriptions())
	case len(p) == 2 && p[0] == "subscriptions" && r.Method == http.MethodDelete,
		len(p) == 3 && p[0] == "subscriptions" && p[2] == "remove" && post:
		done(em.RemoveSubscription(p[1]))
	case len(p) == 3 && p[0] == "subscriptions" && p[2] == "expire" && post:
		done(em.ExpireSubscription(p[1]))
	case len(p) == 4 && p[0] == "subscriptions" && p[2] == "lifecycle" && post:
		done(em.SendLifecycle(p[1], p[3]))
	case len(p) == 1 && p[0] == "notifications" && r.Method == http.MethodGet:
		reply(em.NotificationLog())
	case len(p) == 2 && p[0] == "notifications" && p[1] == "counters" && r.Method == http.MethodGet:
		reply(em.NotificationCounters())
	case len(p) == 2 && p[0] == "notifications" && p[1] == "counters" && r.Method == http.MethodDelete:
		em.ResetNotificationCounters()
		w.WriteHeader(http.StatusNoContent)
	case len(p) == 2 && p[0] == "notifications" && p[1] == "unreachable" && post:
		q := r.URL.Query()
		down, err := strconv.ParseBool(q.Get("unreachable"))
		if q.Get("url") == "" || err != nil {
			http.Error(w, "unreachable: query parameters url and unreachable=true|false are required", http.StatusBadRequest)
			return true
		}
		em.SetUnreachable(q.Get("url"), down)
		w.WriteHeader(http.StatusNoContent)
	case len(p) == 1 && p[0] == "last-change" && r.Method == http.MethodGet:
		at := em.LastChangeAt()
		reply(map[string]any{"at": at.UTC().Format(time.RFC3339Nano)})
	default:
		return false
	}
	return true
}
