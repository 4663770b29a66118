package notify

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

// Enqueue queues a sync of one mailbox's resource that Graph said may have
// changed at notifiedAt (the jobs package's EnqueueNotified).
type Enqueue func(ctx context.Context, conn int64, user string, r *graphsync.Resource, notifiedAt time.Time) error

// Receiver is the endpoint Graph posts change and lifecycle notifications
// to. It answers the validation handshake, checks each notification's
// clientState against the subscription's in constant time, and queues a
// sync per mailbox and resource; it answers 202 within milliseconds.
type Receiver struct {
	store   *store.Store
	enqueue Enqueue
	log     *slog.Logger
}

// NewReceiver returns a Receiver.
func NewReceiver(st *store.Store, enqueue Enqueue, log *slog.Logger) *Receiver {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Receiver{store: st, enqueue: enqueue, log: log}
}

// maxBody bounds a notification POST: Graph sends at most a few hundred
// notifications without resource data in one.
const maxBody = 4 << 20

func (rc *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	// The validation handshake: echo the token, as text, within 10 seconds.
	if token := req.URL.Query().Get("validationToken"); token != "" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, token)
		received.WithLabelValues("validation").Inc()
		return
	}
	if req.Method != http.MethodPost {
		http.Error(w, "POST change notifications here", http.StatusMethodNotAllowed)
		return
	}
	var lifecycle bool
	switch req.URL.Path {
	case NotificationsPath:
	case LifecyclePath:
		lifecycle = true
	default:
		http.NotFound(w, req)
		return
	}
	var batch struct {
		Value []notification `json:"value"`
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, maxBody+1))
	if err != nil || len(body) > maxBody || json.Unmarshal(body, &batch) != nil {
		received.WithLabelValues("malformed").Inc()
		http.Error(w, "not a change notification collection", http.StatusBadRequest)
		return
	}
	// Graph needs an answer in under 3 seconds whatever happens here.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(req.Context()), 2*time.Second)
	defer cancel()
	rc.handle(ctx, batch.Value, lifecycle)
	w.WriteHeader(http.StatusAccepted)
}

// notification is what graphsync reads of a change or lifecycle
// notification: which subscription, its proof, and for lifecycle events
// which one. Nothing else in it is trusted.
type notification struct {
	SubscriptionID string `json:"subscriptionId"`
	ClientState    string `json:"clientState"`
	LifecycleEvent string `json:"lifecycleEvent"`
}

// handle acts on a batch: one sync per mailbox and resource, however many
// notifications name it.
func (rc *Receiver) handle(ctx context.Context, batch []notification, lifecycle bool) {
	now := time.Now()
	type key struct {
		conn     int64
		user     string
		resource *graphsync.Resource
	}
	queued := map[key]bool{}
	for _, n := range batch {
		sub, ok := rc.verify(ctx, n)
		if !ok {
			continue
		}
		k := key{sub.Connection, sub.User, sub.Resource}
		if lifecycle {
			received.WithLabelValues("lifecycle_" + lifecycleLabel(n.LifecycleEvent)).Inc()
			if !rc.lifecycle(ctx, sub, n.LifecycleEvent) {
				continue
			}
		} else {
			if err := rc.store.MarkNotified(ctx, sub.ID); err != nil {
				rc.log.ErrorContext(ctx, "record notification", "error", err)
			}
			if queued[k] {
				received.WithLabelValues("duplicate").Inc()
				continue
			}
			received.WithLabelValues("accepted").Inc()
		}
		if queued[k] {
			continue
		}
		queued[k] = true
		if err := rc.enqueue(ctx, sub.Connection, sub.User, sub.Resource, now); err != nil {
			rc.log.ErrorContext(ctx, "queue a notified sync", "connection_id", sub.Connection, "resource", sub.Resource.Name(), "error", err)
		}
	}
}

// verify finds a notification's subscription and checks its clientState.
func (rc *Receiver) verify(ctx context.Context, n notification) (*store.Subscription, bool) {
	sub, state, err := rc.store.SubscriptionByGraphID(ctx, n.SubscriptionID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		received.WithLabelValues("unknown").Inc()
		return nil, false
	case err != nil:
		rc.log.ErrorContext(ctx, "look up the subscription of a notification", "error", err)
		received.WithLabelValues("error").Inc()
		return nil, false
	}
	// Hashing first makes the comparison independent of the lengths.
	want, got := sha256.Sum256([]byte(state)), sha256.Sum256([]byte(n.ClientState))
	if state == "" || subtle.ConstantTimeCompare(want[:], got[:]) != 1 {
		received.WithLabelValues("rejected").Inc()
		rc.log.WarnContext(ctx, "notification with a wrong clientState dropped", "connection_id", sub.Connection, "resource", sub.Resource.Name())
		return nil, false
	}
	return sub, true
}

// lifecycle acts on a lifecycle event and says whether the stream must be
// synced: Graph may have dropped notifications.
func (rc *Receiver) lifecycle(ctx context.Context, sub *store.Subscription, event string) bool {
	switch event {
	case "reauthorizationRequired":
		// Renewing reauthorizes; the manager does it on its next round.
		if err := rc.store.RenewNow(ctx, sub.ID, false); err != nil {
			rc.log.ErrorContext(ctx, "schedule a renewal", "error", err)
		}
		return false
	case "subscriptionRemoved":
		// Created again on the manager's next round; what changed meanwhile
		// is read by delta.
		if err := rc.store.RenewNow(ctx, sub.ID, true); err != nil {
			rc.log.ErrorContext(ctx, "schedule a new subscription", "error", err)
		}
		return true
	case "missed":
		return true
	}
	return false
}

func lifecycleLabel(event string) string {
	switch event {
	case "reauthorizationRequired", "subscriptionRemoved", "missed":
		return event
	}
	return "other"
}
