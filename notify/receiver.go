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

// Queue is where the Receiver hands work: the jobs package through a River
// client.
type Queue interface {
	// Sync queues a sync of one mailbox's resource that Graph said may
	// have changed at notifiedAt.
	Sync(ctx context.Context, conn int64, user string, r *graphsync.Resource, notifiedAt time.Time) error
	// Reconcile queues a round of the Manager now: a subscription needs
	// renewing or creating again.
	Reconcile(ctx context.Context) error
}

// Receiver is the endpoint Graph posts change and lifecycle notifications
// to. It answers the validation handshake, checks each notification's
// clientState against the subscription's in constant time, and queues a
// sync per mailbox and resource; it answers 202 within milliseconds.
type Receiver struct {
	store *store.Store
	queue Queue
	log   *slog.Logger
}

// NewReceiver returns a Receiver.
func NewReceiver(st *store.Store, q Queue, log *slog.Logger) *Receiver {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Receiver{store: st, queue: q, log: log}
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
// notifications name it, and one database lookup per subscription.
func (rc *Receiver) handle(ctx context.Context, batch []notification, lifecycle bool) {
	now := time.Now()
	type found struct {
		sub       *store.Subscription
		state     string
		err       error
		recreated bool
	}
	subs := map[string]found{}
	heard := map[*store.Subscription]int{}
	var order []*store.Subscription
	reconcile := false
	for _, n := range batch {
		f, ok := subs[n.SubscriptionID]
		if !ok {
			f.sub, f.state, f.err = rc.store.SubscriptionByGraphID(ctx, n.SubscriptionID)
			subs[n.SubscriptionID] = f
		}
		ok, recreate := rc.verify(ctx, f.sub, f.state, f.err, n.ClientState)
		if recreate && !f.recreated {
			rc.log.WarnContext(ctx, "a subscription's clientState was sealed with a key no longer held; creating it anew",
				"connection_id", f.sub.Connection, "resource", f.sub.Resource.Name(), "error", f.err)
			if err := rc.store.RenewNow(ctx, f.sub.ID, true); err != nil {
				rc.log.ErrorContext(ctx, "schedule a new subscription", "error", err)
			}
			f.recreated, reconcile = true, true
			subs[n.SubscriptionID] = f
		}
		if !ok {
			continue
		}
		if lifecycle {
			received.WithLabelValues("lifecycle_" + lifecycleLabel(n.LifecycleEvent)).Inc()
			renew, resync := rc.lifecycle(ctx, f.sub, n.LifecycleEvent)
			reconcile = reconcile || renew
			if !resync {
				continue
			}
		} else if heard[f.sub] > 0 {
			received.WithLabelValues("duplicate").Inc()
		} else {
			received.WithLabelValues("accepted").Inc()
		}
		if heard[f.sub] == 0 {
			order = append(order, f.sub)
		}
		heard[f.sub]++
	}
	for _, sub := range order {
		// Recorded before the job is queued: a job running for the mailbox
		// sees the count rise and syncs again.
		if err := rc.store.MarkNotified(ctx, sub.ID, heard[sub]); err != nil {
			rc.log.ErrorContext(ctx, "record notification", "error", err)
		}
		if err := rc.queue.Sync(ctx, sub.Connection, sub.User, sub.Resource, now); err != nil {
			rc.log.ErrorContext(ctx, "queue a notified sync", "connection_id", sub.Connection, "resource", sub.Resource.Name(), "error", err)
		}
	}
	if reconcile {
		if err := rc.queue.Reconcile(ctx); err != nil {
			rc.log.ErrorContext(ctx, "queue a subscriptions round", "error", err)
		}
	}
}

// verify checks a notification's clientState against its subscription's
// (looked up with err), and says whether the subscription must be created
// anew: its secret was sealed with a key the workers no longer hold, so no
// notification for it can be trusted again.
func (rc *Receiver) verify(ctx context.Context, sub *store.Subscription, state string, err error, got string) (ok, recreate bool) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		received.WithLabelValues("unknown").Inc()
		return false, false
	case errors.Is(err, store.ErrDecrypt) && sub != nil:
		received.WithLabelValues("error").Inc()
		return false, true
	case err != nil:
		rc.log.ErrorContext(ctx, "look up the subscription of a notification", "error", err)
		received.WithLabelValues("error").Inc()
		return false, false
	}
	// Hashing first makes the comparison independent of the lengths.
	w, g := sha256.Sum256([]byte(state)), sha256.Sum256([]byte(got))
	if state == "" || subtle.ConstantTimeCompare(w[:], g[:]) != 1 {
		received.WithLabelValues("rejected").Inc()
		rc.log.WarnContext(ctx, "notification with a wrong clientState dropped", "connection_id", sub.Connection, "resource", sub.Resource.Name())
		return false, false
	}
	return true, false
}

// lifecycle acts on a lifecycle event and says whether the subscription
// must be renewed or created again, and whether the stream must be synced
// because Graph may have dropped notifications.
func (rc *Receiver) lifecycle(ctx context.Context, sub *store.Subscription, event string) (renew, resync bool) {
	switch event {
	case "reauthorizationRequired":
		// Renewing reauthorizes.
		if err := rc.store.RenewNow(ctx, sub.ID, false); err != nil {
			rc.log.ErrorContext(ctx, "schedule a renewal", "error", err)
		}
		return true, false
	case "subscriptionRemoved":
		// Created again; what changed meanwhile is read by delta.
		if err := rc.store.RenewNow(ctx, sub.ID, true); err != nil {
			rc.log.ErrorContext(ctx, "schedule a new subscription", "error", err)
		}
		return true, true
	case "missed":
		return false, true
	}
	return false, false
}

func lifecycleLabel(event string) string {
	switch event {
	case "reauthorizationRequired", "subscriptionRemoved", "missed":
		return event
	}
	return "other"
}
