// Package notify is graphsync's side of Microsoft Graph change
// notifications: the Manager keeps one subscription per connection, user
// and resource that Graph can notify about (created, renewed halfway to
// expiry, recreated when Graph lost it, removed when nothing wants it), and
// the Receiver is the endpoint Graph posts to. A notification is trusted
// only as far as "this mailbox's resource may have changed": it queues a
// delta sync of it, which reads what changed.
package notify

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/graphsync/graphsync/graph"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

// Sender sends Graph requests with a body.
type Sender interface {
	Send(ctx context.Context, call graph.Call, method, link string, in, out any) error
}

// Tokens hands out access tokens.
type Tokens interface {
	Access(ctx context.Context, connectionID int64) (string, error)
	Refresh(ctx context.Context, connectionID int64, rejected string) (string, error)
}

// Config configures a Manager.
type Config struct {
	Store  *store.Store
	Graph  Sender
	Tokens Tokens
	// URL is the public base URL Graph posts to (https in production):
	// notifications go to URL+NotificationsPath, lifecycle events to
	// URL+LifecyclePath.
	URL    string
	Logger *slog.Logger
	// Batch is how many due subscriptions one query reads (default 200);
	// Budget bounds one Reconcile (default 3 minutes): what is still due
	// then waits for the next.
	Batch  int
	Budget time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// The paths under Config.URL that the Receiver serves.
const (
	NotificationsPath = "/notifications"
	LifecyclePath     = "/lifecycle"
)

// Manager keeps the subscriptions.
type Manager struct {
	cfg Config
	log *slog.Logger
}

// NewManager validates cfg.
func NewManager(cfg Config) (*Manager, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("notify config: Store is nil")
	case cfg.Graph == nil:
		return nil, errors.New("notify config: Graph is nil")
	case cfg.Tokens == nil:
		return nil, errors.New("notify config: Tokens is nil")
	case cfg.URL == "":
		return nil, errors.New("notify config: URL is empty")
	}
	cfg.URL = strings.TrimRight(cfg.URL, "/")
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 200
	}
	if cfg.Budget <= 0 {
		cfg.Budget = 3 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Manager{cfg: cfg, log: cfg.Logger}, nil
}

// Reconcile removes the subscriptions nothing wants any more, then creates,
// renews or retries those that are due. Failures are recorded per
// subscription, never returned: one broken mailbox must not hold up the
// others. It returns the streams it subscribed anew: what changed in them
// before was not notified, so they are to be synced once.
func (m *Manager) Reconcile(ctx context.Context) ([]graphsync.Stream, error) {
	st := m.cfg.Store
	gone, err := st.ObsoleteSubscriptions(ctx)
	if err != nil {
		return nil, err
	}
	for _, sub := range gone {
		m.remove(ctx, sub)
	}
	// Batches until nothing is due, within a time budget: a fleet's first
	// round subscribes every stream, and the job must end well within its
	// timeout.
	deadline := time.Now().Add(m.cfg.Budget)
	conns := map[int64]*store.Connection{}
	var created []graphsync.Stream
	for time.Now().Before(deadline) {
		due, err := st.SubscriptionsDue(ctx, m.cfg.Now(), m.cfg.Batch)
		if err != nil {
			return created, err
		}
		for _, sub := range due {
			if ctx.Err() != nil {
				return created, ctx.Err()
			}
			conn, ok := conns[sub.Connection]
			if !ok {
				if conn, err = st.Connection(ctx, sub.Connection); err != nil {
					return created, err
				}
				conns[sub.Connection] = conn
			}
			if m.ensure(ctx, conn, sub) {
				created = append(created, graphsync.Stream{Connection: sub.Connection, User: sub.User, Resource: sub.Resource})
			}
		}
		if len(due) < m.cfg.Batch {
			break
		}
	}
	return created, nil
}

// SettledTx says, in tx, whether nothing is due any more, holding off
// lifecycle events that would make something due until tx ends (see
// store.SubscriptionsSettledTx).
func (m *Manager) SettledTx(ctx context.Context, tx store.Tx) (bool, error) {
	return m.cfg.Store.SubscriptionsSettledTx(ctx, tx, m.cfg.Now())
}

// ensure renews a subscription Graph has, or creates one, and says
// whether it created one.
func (m *Manager) ensure(ctx context.Context, conn *store.Connection, sub *store.Subscription) bool {
	n := sub.Resource.Notifications()
	sub.GraphResource = n.Resource(sub.User)
	if sub.GraphID != "" && sub.Status == store.SubscriptionActive {
		err := m.renew(ctx, conn, sub)
		if err == nil {
			renewals.WithLabelValues("renewed").Inc()
			return false
		}
		if !graph.IsNotFound(err) {
			m.failed(ctx, sub, err, false)
			return false
		}
		// Graph no longer has it (expired or removed): make a new one.
		m.log.InfoContext(ctx, "subscription gone; creating it again", "connection_id", conn.ID, "resource", sub.Resource.Name())
		sub.GraphID = ""
	}
	if err := m.create(ctx, conn, sub); err != nil {
		m.failed(ctx, sub, err, true)
		return false
	}
	renewals.WithLabelValues("created").Inc()
	return true
}

// subscriptionBody is a subscription as Graph takes and returns it.
type subscriptionBody struct {
	ID                        string `json:"id,omitempty"`
	ChangeType                string `json:"changeType,omitempty"`
	NotificationURL           string `json:"notificationUrl,omitempty"`
	LifecycleNotificationURL  string `json:"lifecycleNotificationUrl,omitempty"`
	Resource                  string `json:"resource,omitempty"`
	ExpirationDateTime        string `json:"expirationDateTime,omitempty"`
	ClientState               string `json:"clientState,omitempty"`
	LatestSupportedTLSVersion string `json:"latestSupportedTlsVersion,omitempty"`
}

func (m *Manager) create(ctx context.Context, conn *store.Connection, sub *store.Subscription) error {
	n := sub.Resource.Notifications()
	state, err := clientState()
	if err != nil {
		return err
	}
	in := subscriptionBody{
		ChangeType:                n.ChangeTypes,
		NotificationURL:           m.cfg.URL + NotificationsPath,
		LifecycleNotificationURL:  m.cfg.URL + LifecyclePath,
		Resource:                  sub.GraphResource,
		ExpirationDateTime:        m.expiry(n).UTC().Format(time.RFC3339),
		ClientState:               state,
		LatestSupportedTLSVersion: "v1_2",
	}
	var out subscriptionBody
	err = m.send(ctx, conn, sub, http.MethodPost, "/subscriptions", in, &out)
	if isConflict(err) {
		// The app already has this subscription, which graphsync lost track
		// of (a restored database): its clientState is unknown, so it goes.
		if derr := m.deleteExisting(ctx, conn, sub); derr != nil {
			return fmt.Errorf("replace the subscription Graph already has: %w", derr)
		}
		err = m.send(ctx, conn, sub, http.MethodPost, "/subscriptions", in, &out)
	}
	if err != nil {
		return err
	}
	sub.GraphID = out.ID
	return m.saved(ctx, sub, out.ExpirationDateTime, state)
}

func (m *Manager) renew(ctx context.Context, conn *store.Connection, sub *store.Subscription) error {
	n := sub.Resource.Notifications()
	var out subscriptionBody
	in := subscriptionBody{ExpirationDateTime: m.expiry(n).UTC().Format(time.RFC3339)}
	if err := m.send(ctx, conn, sub, http.MethodPatch, "/subscriptions/"+sub.GraphID, in, &out); err != nil {
		return err
	}
	return m.saved(ctx, sub, out.ExpirationDateTime, "")
}

// saved stores a subscription Graph created or renewed until expires
// (Graph's answer, or what was asked for when it does not say), to be
// renewed halfway there.
func (m *Manager) saved(ctx context.Context, sub *store.Subscription, expires, state string) error {
	now := m.cfg.Now()
	exp, err := time.Parse(time.RFC3339Nano, expires)
	if err != nil {
		exp = m.expiry(sub.Resource.Notifications())
	}
	renew := now.Add(exp.Sub(now) / 2)
	sub.ExpiresAt, sub.RenewAt = &exp, &renew
	return m.cfg.Store.SaveSubscription(ctx, sub, state)
}

// expiry is the expiration to ask for: the documented maximum, less a
// margin for clocks and the request's own time.
func (m *Manager) expiry(n *graphsync.Notifications) time.Time {
	return m.cfg.Now().Add(n.MaxLifetime - 5*time.Minute)
}

// deleteExisting deletes the app's subscription to sub's Graph resource.
func (m *Manager) deleteExisting(ctx context.Context, conn *store.Connection, sub *store.Subscription) error {
	var list struct {
		Value []subscriptionBody `json:"value"`
	}
	if err := m.call(ctx, conn, sub, func(c graph.Call) error {
		return m.cfg.Graph.Send(ctx, c, http.MethodGet, "/subscriptions", nil, &list)
	}); err != nil {
		return err
	}
	for _, s := range list.Value {
		if strings.EqualFold(strings.Trim(s.Resource, "/"), strings.Trim(sub.GraphResource, "/")) {
			if err := m.send(ctx, conn, sub, http.MethodDelete, "/subscriptions/"+s.ID, nil, nil); err != nil && !graph.IsNotFound(err) {
				return err
			}
		}
	}
	return nil
}

// remove deletes a subscription nothing wants any more, at Graph and here.
func (m *Manager) remove(ctx context.Context, sub *store.Subscription) {
	if sub.GraphID != "" {
		conn, err := m.cfg.Store.Connection(ctx, sub.Connection)
		if err == nil && conn.Status == store.StatusActive {
			err = m.send(ctx, conn, sub, http.MethodDelete, "/subscriptions/"+sub.GraphID, nil, nil)
		}
		if err != nil && !graph.IsNotFound(err) && !errors.Is(err, store.ErrNotFound) {
			// Graph ends it at its expiry all the same.
			m.log.WarnContext(ctx, "could not delete an unwanted subscription; it expires on its own",
				"connection_id", sub.Connection, "resource", sub.Resource.Name(), "error", err)
		}
	}
	if err := m.cfg.Store.DeleteSubscription(ctx, sub.ID); err != nil {
		m.log.ErrorContext(ctx, "forget subscription", "error", err)
		return
	}
	renewals.WithLabelValues("deleted").Inc()
}

// failed records a failure with a retry time fitting its cause.
func (m *Manager) failed(ctx context.Context, sub *store.Subscription, err error, creating bool) {
	renewals.WithLabelValues("failed").Inc()
	now := m.cfg.Now()
	status, retry := store.SubscriptionFailed, now.Add(backoff(sub.Failures))
	var ge *graph.Error
	switch {
	case errors.As(err, &ge) && ge.Status == http.StatusForbidden && strings.Contains(strings.ToLower(ge.Message), "limit"):
		// A mailbox holds at most 1,000 subscriptions across every app.
		status, retry = store.SubscriptionLimitReached, now.Add(time.Hour)
	case graph.IsForbidden(err):
		status, retry = store.SubscriptionMissingScope, now.Add(6*time.Hour)
	}
	if ra, ok := graph.IsThrottled(err); ok {
		retry = now.Add(max(ra, time.Minute))
	}
	m.log.WarnContext(ctx, "subscription failed", "connection_id", sub.Connection, "resource", sub.Resource.Name(),
		"status", status, "retry_at", retry, "error", err)
	if serr := m.cfg.Store.SubscriptionFailed(ctx, sub, status, err.Error(), retry, creating); serr != nil {
		m.log.ErrorContext(ctx, "record subscription failure", "error", serr)
	}
}

// backoff grows from a minute to an hour with the failures in a row.
func backoff(failures int) time.Duration {
	d := time.Minute << min(failures, 6)
	return min(d, time.Hour)
}

// send makes one subscription request for sub's mailbox, refreshing the
// token once on a 401.
func (m *Manager) send(ctx context.Context, conn *store.Connection, sub *store.Subscription, method, link string, in, out any) error {
	return m.call(ctx, conn, sub, func(c graph.Call) error {
		return m.cfg.Graph.Send(ctx, c, method, link, in, out)
	})
}

func (m *Manager) call(ctx context.Context, conn *store.Connection, sub *store.Subscription, fn func(graph.Call) error) error {
	tok, err := m.cfg.Tokens.Access(ctx, conn.ID)
	if err != nil {
		return err
	}
	// Immutable ids, as the syncs use: a notification names the item by
	// the id its row has.
	c := graph.Call{Token: tok, Mailbox: sub.User, Tenant: conn.TenantID, Service: sub.Resource.Service(), Resource: "subscriptions",
		ImmutableIDs: sub.Resource.Service() == graphsync.Outlook}
	err = fn(c)
	if graph.IsUnauthorized(err) {
		if c.Token, err = m.cfg.Tokens.Refresh(ctx, conn.ID, tok); err != nil {
			return err
		}
		err = fn(c)
	}
	return err
}

func isConflict(err error) bool {
	var ge *graph.Error
	return errors.As(err, &ge) && ge.Status == http.StatusConflict
}

// clientState is a fresh random secret Graph echoes in each notification.
func clientState() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("client state: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
