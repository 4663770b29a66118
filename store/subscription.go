package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/graphsync/graphsync/graphsync"
)

// Subscription statuses.
const (
	SubscriptionPending      = "pending"
	SubscriptionActive       = "active"
	SubscriptionFailed       = "failed"
	SubscriptionMissingScope = "missing_scope"
	SubscriptionLimitReached = "limit_reached"
)

// SubscriptionStatuses lists every status, for metrics.
var SubscriptionStatuses = []string{SubscriptionPending, SubscriptionActive, SubscriptionFailed,
	SubscriptionMissingScope, SubscriptionLimitReached}

// Subscription is a Graph change-notification subscription graphsync
// manages for one connection, user and resource. Its clientState is read
// only through SubscriptionByGraphID.
type Subscription struct {
	ID            int64
	Connection    int64
	User          string
	Resource      *graphsync.Resource
	GraphResource string
	GraphID       string
	Status        string
	ExpiresAt     *time.Time
	RenewAt       *time.Time
	LastError     string
	LastErrorAt   *time.Time
	Failures      int
	NotifiedAt    *time.Time
	Notifications int64
}

const subscriptionColumns = `id, connection_id, user_id, resource, graph_resource, coalesce(graph_id, ''), status,
	expires_at, renew_at, coalesce(last_error, ''), last_error_at, failures, notified_at, notifications`

func scanSubscription(row pgx.Row) (*Subscription, error) {
	s := &Subscription{}
	var resource string
	if err := row.Scan(&s.ID, &s.Connection, &s.User, &resource, &s.GraphResource, &s.GraphID, &s.Status,
		&s.ExpiresAt, &s.RenewAt, &s.LastError, &s.LastErrorAt, &s.Failures, &s.NotifiedAt, &s.Notifications); err != nil {
		return nil, err
	}
	r, err := graphsync.ParseResource(resource)
	if err != nil {
		return nil, fmt.Errorf("subscription %d: %w", s.ID, err)
	}
	s.Resource = r
	return s, nil
}

// clientStateAAD binds a sealed clientState to its subscription.
func clientStateAAD(conn int64, user string, r *graphsync.Resource) string {
	return "subscriptions/" + strconv.FormatInt(conn, 10) + "/" + user + "/" + r.Name() + "/client_state"
}

// SubscriptionsDue lists, at most limit, the subscriptions to create,
// renew or retry now: of every active connection's users and resources
// that Graph notifies about (user discovery of application connections
// included), those without a subscription row and those whose renew_at is
// not after now (the manager's clock). A new one has ID 0, status pending
// and no Graph id.
func (s *Store) SubscriptionsDue(ctx context.Context, now time.Time, limit int) ([]*Subscription, error) {
	rows, err := s.pool.Query(ctx, wantedSubscriptions+`
		SELECT coalesce(sub.id, 0), w.id, w.user_id, w.resource, coalesce(sub.graph_resource, ''), coalesce(sub.graph_id, ''),
			coalesce(sub.status, 'pending'), sub.expires_at, sub.renew_at, coalesce(sub.last_error, ''), sub.last_error_at,
			coalesce(sub.failures, 0), sub.notified_at, coalesce(sub.notifications, 0)
		FROM wanted w
		LEFT JOIN subscriptions sub ON sub.connection_id = w.id AND sub.user_id = w.user_id AND sub.resource = w.resource
		WHERE sub.id IS NULL OR sub.renew_at IS NULL OR sub.renew_at <= $4
		ORDER BY sub.renew_at NULLS FIRST, w.id, w.user_id, w.resource
		LIMIT $3`, graphsync.Names(graphsync.Notifiable()), graphsync.Users.Name(), limit, now)
	if err != nil {
		return nil, fmt.Errorf("list subscriptions due: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*Subscription, error) { return scanSubscription(row) })
	if err != nil {
		return nil, fmt.Errorf("list subscriptions due: %w", err)
	}
	return out, nil
}

// SubscriptionsSettledTx says, in tx, whether no subscription is due at now
// (the manager's clock). It locks the table against writes until tx ends:
// a lifecycle event marking one due meanwhile (RenewNow) waits, so a
// round that finds nothing due and ends in tx cannot miss it.
func (s *Store) SubscriptionsSettledTx(ctx context.Context, tx Tx, now time.Time) (bool, error) {
	if _, err := tx.Exec(ctx, "LOCK TABLE subscriptions IN SHARE ROW EXCLUSIVE MODE"); err != nil {
		return false, fmt.Errorf("lock subscriptions: %w", err)
	}
	var due bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM subscriptions WHERE renew_at <= $1)", now).Scan(&due); err != nil {
		return false, fmt.Errorf("read due subscriptions: %w", err)
	}
	return !due, nil
}

// ObsoleteSubscriptions lists the subscriptions nothing wants any more:
// their connection is gone from the active ones, the resource was disabled,
// or the user left the tenant.
func (s *Store) ObsoleteSubscriptions(ctx context.Context) ([]*Subscription, error) {
	rows, err := s.pool.Query(ctx, wantedSubscriptions+`
		SELECT `+subscriptionColumns+` FROM subscriptions sub
		WHERE NOT EXISTS (SELECT 1 FROM wanted w
			WHERE w.id = sub.connection_id AND w.user_id = sub.user_id AND w.resource = sub.resource)
		ORDER BY id`, graphsync.Names(graphsync.Notifiable()), graphsync.Users.Name())
	if err != nil {
		return nil, fmt.Errorf("list obsolete subscriptions: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*Subscription, error) { return scanSubscription(row) })
	if err != nil {
		return nil, fmt.Errorf("list obsolete subscriptions: %w", err)
	}
	return out, nil
}

// wantedSubscriptions is the set of (connection, user, resource) that
// should have a subscription, as a CTE named wanted; $1 lists the
// resources Graph notifies about, $2 names user discovery ($3 on are the
// caller's).
var wantedSubscriptions = `WITH conns AS (
		SELECT * FROM connections WHERE status = 'active'
	), wanted AS (
		SELECT c.id, c.user_id, r.resource FROM conns c CROSS JOIN LATERAL unnest(c.resources) AS r(resource)
		WHERE c.kind = 'delegated' AND r.resource = ANY($1)
		UNION ALL
		SELECT c.id, '', $2::text FROM conns c WHERE c.kind = 'application' AND $2 = ANY($1)
		UNION ALL
		SELECT c.id, u.id, r.resource FROM conns c
		JOIN ` + graphsync.Users.Items().Name + ` u ON u.connection_id = c.id AND u.deleted_at IS NULL
		CROSS JOIN LATERAL unnest(c.resources) AS r(resource)
		WHERE c.kind = 'application' AND r.resource = ANY($1)
	)`

// SaveSubscription stores a subscription Graph created or renewed: active,
// with its Graph id, expiry, when to renew it and (when not empty) its
// clientState, sealed. Failures are cleared. A subscription just created
// (clientState given) counts as a notification: what changed before it
// existed was not notified, so the stream is synced once more.
func (s *Store) SaveSubscription(ctx context.Context, sub *Subscription, clientState string) error {
	if s.keys == nil {
		return errors.New("save subscription: no encryption key configured")
	}
	var keyID *string
	var sealed []byte
	if clientState != "" {
		id := s.keys.PrimaryID()
		keyID, sealed = &id, s.keys.seal(clientState, clientStateAAD(sub.Connection, sub.User, sub.Resource))
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO subscriptions (connection_id, user_id, resource, graph_resource, graph_id, status,
			client_state_key_id, client_state_enc, expires_at, renew_at, subscribed_at, notified_at, notifications)
		VALUES ($1, $2, $3, $4, $5, 'active', $6, $7, $8, $9, now(), now(), 1)
		ON CONFLICT (connection_id, user_id, resource) DO UPDATE SET graph_resource = EXCLUDED.graph_resource,
			graph_id = EXCLUDED.graph_id, status = 'active',
			client_state_key_id = coalesce(EXCLUDED.client_state_key_id, subscriptions.client_state_key_id),
			client_state_enc = coalesce(EXCLUDED.client_state_enc, subscriptions.client_state_enc),
			expires_at = EXCLUDED.expires_at, renew_at = EXCLUDED.renew_at,
			subscribed_at = CASE WHEN $6::text IS NULL THEN subscriptions.subscribed_at ELSE now() END,
			notified_at = CASE WHEN $6::text IS NULL THEN subscriptions.notified_at ELSE now() END,
			notifications = subscriptions.notifications + CASE WHEN $6::text IS NULL THEN 0 ELSE 1 END,
			last_error = NULL, last_error_at = NULL, failures = 0, updated_at = now()`,
		sub.Connection, sub.User, sub.Resource.Name(), sub.GraphResource, nullIfEmpty(sub.GraphID), keyID, sealed,
		sub.ExpiresAt, sub.RenewAt)
	if err != nil {
		return fmt.Errorf("save subscription of connection %d %s: %w", sub.Connection, sub.Resource, err)
	}
	return nil
}

// SubscriptionFailed records why a subscription could not be created or
// renewed, and when to try again. status is failed, missing_scope or
// limit_reached; a subscription that Graph no longer has loses its Graph id
// (gone).
func (s *Store) SubscriptionFailed(ctx context.Context, sub *Subscription, status, reason string, retryAt time.Time, gone bool) error {
	switch status {
	case SubscriptionFailed, SubscriptionMissingScope, SubscriptionLimitReached:
	default:
		return fmt.Errorf("subscription of connection %d %s: unknown status %q", sub.Connection, sub.Resource, status)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO subscriptions (connection_id, user_id, resource, graph_resource, status,
			last_error, last_error_at, failures, renew_at)
		VALUES ($1, $2, $3, $4, $5, $6, now(), 1, $7)
		ON CONFLICT (connection_id, user_id, resource) DO UPDATE SET status = $5, last_error = $6, last_error_at = now(),
			failures = subscriptions.failures + 1, renew_at = $7,
			graph_id = CASE WHEN $8 THEN NULL ELSE subscriptions.graph_id END,
			expires_at = CASE WHEN $8 THEN NULL ELSE subscriptions.expires_at END, updated_at = now()`,
		sub.Connection, sub.User, sub.Resource.Name(), sub.GraphResource, status, CleanText(reason), retryAt, gone)
	if err != nil {
		return fmt.Errorf("record failure of subscription of connection %d %s: %w", sub.Connection, sub.Resource, err)
	}
	return nil
}

// DeleteSubscription forgets a subscription.
func (s *Store) DeleteSubscription(ctx context.Context, id int64) error {
	if _, err := s.pool.Exec(ctx, "DELETE FROM subscriptions WHERE id = $1", id); err != nil {
		return fmt.Errorf("delete subscription %d: %w", id, err)
	}
	return nil
}

// SubscriptionByGraphID returns the subscription Graph knows by graphID
// with its clientState, for checking a notification; ErrNotFound when none,
// and the subscription with an ErrDecrypt error when its clientState was
// sealed with a key the keyring no longer holds.
func (s *Store) SubscriptionByGraphID(ctx context.Context, graphID string) (*Subscription, string, error) {
	if s.keys == nil {
		return nil, "", errors.New("subscription: no encryption key configured")
	}
	var keyID *string
	var sealed []byte
	row := s.pool.QueryRow(ctx, "SELECT "+subscriptionColumns+", client_state_key_id, client_state_enc FROM subscriptions WHERE graph_id = $1", graphID)
	sub := &Subscription{}
	var resource string
	err := row.Scan(&sub.ID, &sub.Connection, &sub.User, &resource, &sub.GraphResource, &sub.GraphID, &sub.Status,
		&sub.ExpiresAt, &sub.RenewAt, &sub.LastError, &sub.LastErrorAt, &sub.Failures, &sub.NotifiedAt, &sub.Notifications,
		&keyID, &sealed)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, "", ErrNotFound
	}
	if err != nil {
		return nil, "", fmt.Errorf("look up subscription: %w", err)
	}
	if sub.Resource, err = graphsync.ParseResource(resource); err != nil {
		return nil, "", fmt.Errorf("subscription %d: %w", sub.ID, err)
	}
	if keyID == nil {
		return sub, "", nil
	}
	state, err := s.keys.open(*keyID, sealed, clientStateAAD(sub.Connection, sub.User, sub.Resource))
	if err != nil {
		// The subscription is returned: one whose secret cannot be read
		// any more is to be created anew.
		return sub, "", fmt.Errorf("subscription %d: clientState: %w", sub.ID, err)
	}
	return sub, state, nil
}

// MarkNotified records that count notifications for the subscription
// arrived now (lifecycle events that ask for a resync count too).
func (s *Store) MarkNotified(ctx context.Context, id int64, count int) error {
	if _, err := s.pool.Exec(ctx, `UPDATE subscriptions SET notified_at = now(), notifications = notifications + $2
		WHERE id = $1`, id, count); err != nil {
		return fmt.Errorf("record notification of subscription %d: %w", id, err)
	}
	return nil
}

// Notified is what a mailbox's subscriptions have heard, per resource:
// when the last change notification arrived, and how many in all. A sync
// compares two readings to learn, without trusting clocks, whether Graph
// spoke while it ran.
type Notified map[*graphsync.Resource]NotifiedMark

// NotifiedMark is one resource's reading.
type NotifiedMark struct {
	At    time.Time
	Count int64
	// Active is true while the subscription is active and unexpired;
	// Since is when Graph created it.
	Active bool
	Since  time.Time
}

// Notified reads the marks of a mailbox's subscriptions (the Unix epoch
// and 0 for one never notified).
func (s *Store) Notified(ctx context.Context, conn int64, user string) (Notified, error) {
	return notified(ctx, s.pool, "", conn, user)
}

// NotifiedTx is Notified in tx, locking the mailbox's subscriptions until
// tx ends: a notification arriving meanwhile (MarkNotified) waits, so a
// job that finds nothing new and completes in tx cannot miss it.
func (s *Store) NotifiedTx(ctx context.Context, tx Tx, conn int64, user string) (Notified, error) {
	return notified(ctx, tx, " FOR UPDATE", conn, user)
}

func notified(ctx context.Context, q querier, lock string, conn int64, user string) (Notified, error) {
	rows, err := q.Query(ctx, `SELECT resource, coalesce(notified_at, 'epoch'), notifications,
			status = 'active' AND coalesce(expires_at > now(), false), coalesce(subscribed_at, 'epoch')
		FROM subscriptions WHERE connection_id = $1 AND user_id = $2`+lock, conn, user)
	if err != nil {
		return nil, fmt.Errorf("read notifications of connection %d: %w", conn, err)
	}
	out := Notified{}
	var name string
	var m NotifiedMark
	_, err = pgx.ForEachRow(rows, []any{&name, &m.At, &m.Count, &m.Active, &m.Since}, func() error {
		r, err := graphsync.ParseResource(name)
		if err != nil {
			return err
		}
		out[r] = m
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read notifications of connection %d: %w", conn, err)
	}
	return out, nil
}

// Subscriptions lists a connection's subscriptions (every connection's
// when id is 0).
func (s *Store) Subscriptions(ctx context.Context, connectionID int64) ([]*Subscription, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+subscriptionColumns+
		" FROM subscriptions WHERE $1 = 0 OR connection_id = $1 ORDER BY connection_id, user_id, resource", connectionID)
	if err != nil {
		return nil, fmt.Errorf("list subscriptions: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*Subscription, error) { return scanSubscription(row) })
	if err != nil {
		return nil, fmt.Errorf("list subscriptions: %w", err)
	}
	return out, nil
}

// RenewNow makes a subscription due at once: Graph asked for its
// reauthorization, or (gone) removed it, so it is created anew.
func (s *Store) RenewNow(ctx context.Context, id int64, gone bool) error {
	_, err := s.pool.Exec(ctx, `UPDATE subscriptions SET renew_at = now(), updated_at = now(),
		status = CASE WHEN $2 THEN 'pending' ELSE status END,
		graph_id = CASE WHEN $2 THEN NULL ELSE graph_id END,
		expires_at = CASE WHEN $2 THEN NULL ELSE expires_at END
		WHERE id = $1`, id, gone)
	if err != nil {
		return fmt.Errorf("renew subscription %d: %w", id, err)
	}
	return nil
}

// rotateSubscriptionKeys re-seals the clientState of every subscription
// sealed with another key than the primary one; a subscription whose
// secret no key opens is left for the receiver to recreate.
func (s *Store) rotateSubscriptionKeys(ctx context.Context) (int, error) {
	return s.resealRows(ctx, "subscriptions", "client_state_key_id", func(tx Tx, id int64) error {
		var conn int64
		var user, resource, keyID string
		var sealed []byte
		if err := tx.QueryRow(ctx, `SELECT connection_id, user_id, resource, client_state_key_id, client_state_enc
			FROM subscriptions WHERE id = $1`, id).Scan(&conn, &user, &resource, &keyID, &sealed); err != nil {
			return err
		}
		r, err := graphsync.ParseResource(resource)
		if err != nil {
			return err
		}
		aad := clientStateAAD(conn, user, r)
		state, err := s.keys.open(keyID, sealed, aad)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE subscriptions SET client_state_key_id = $2, client_state_enc = $3 WHERE id = $1",
			id, s.keys.PrimaryID(), s.keys.seal(state, aad))
		return err
	})
}
