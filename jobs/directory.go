package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

// userSelect names the user properties users/delta tracks: a change to any
// other property does not surface, so only what directory_users stores is
// asked for.
const userSelect = "id,displayName,userPrincipalName,mail,givenName,surname,jobTitle,department,officeLocation,accountEnabled,userType"

// userComplete tells a full user from a partial update (an updated user
// comes as its id plus at least the changed properties).
var userComplete = []byte(`"userPrincipalName"`)

// syncDirectory discovers an application connection's users through
// users/delta, retires the rows of users who left the tenant, then queues
// the syncs that are due for the tenant's users: a user discovered now is
// synced in the same pass.
func syncDirectory(ctx context.Context, r *run) error {
	st := store.Stream{ConnectionID: r.conn.ID, Resource: store.DirectoryResource}
	err := r.runDelta(ctx, deltaStream{
		stream:  st,
		initial: "/users/delta?$select=" + userSelect,
		service: graphsync.ServiceDirectory,
		apply: func(ctx context.Context, tx pgx.Tx, items []json.RawMessage, seen *time.Time) (store.Progress, error) {
			return r.applyUsers(ctx, tx, st, items, seen)
		},
		retire: func(ctx context.Context, tx pgx.Tx, since time.Time) (int64, error) {
			return r.svc.store.RetireUnseenDirectoryUsersTx(ctx, tx, r.conn.ID, since)
		},
	})
	if err != nil {
		return err
	}
	if err := r.svc.store.StopStreamsOfRemovedUsers(ctx, r.conn.ID); err != nil {
		return err
	}
	client, err := clientFrom(ctx)
	if err != nil {
		return err
	}
	n, err := r.svc.enqueueDue(ctx, client, r.conn.ID, 0)
	if err != nil {
		return fmt.Errorf("queue syncs of the tenant's users: %w", err)
	}
	r.log.InfoContext(ctx, "tenant users discovered", "syncs_queued", n)
	return nil
}

func (r *run) applyUsers(ctx context.Context, tx pgx.Tx, st store.Stream, items []json.RawMessage, seen *time.Time) (store.Progress, error) {
	var p store.Progress
	entries, stored, err := r.preparePage(ctx, tx, st, "user", "directory_users", userComplete, items)
	if err != nil {
		return p, err
	}
	rows, removed, err := pageRows(ctx, r, tx, st, entries, stored, func(raw []byte) (store.DirectoryUser, error) {
		u, err := graphsync.DecodeUser(raw)
		return store.DirectoryUser{ID: u.ID, UserPrincipalName: u.UserPrincipalName, DisplayName: u.DisplayName,
			Mail: u.Mail, GivenName: u.GivenName, Surname: u.Surname, JobTitle: u.JobTitle, Department: u.Department,
			OfficeLocation: u.OfficeLocation, AccountEnabled: u.AccountEnabled, UserType: u.UserType, Raw: raw}, err
	})
	if err != nil {
		return p, err
	}
	n, err := r.svc.store.RemoveDirectoryUsersTx(ctx, tx, r.conn.ID, removed)
	if err != nil {
		return p, err
	}
	u, err := r.svc.store.UpsertDirectoryUsersTx(ctx, tx, r.conn.ID, rows, seen)
	if err != nil {
		return p, err
	}
	return r.written(u, n), nil
}

// enqueueDue inserts the syncs due now (of one connection when
// connectionID is not 0), one job per mailbox with its due resources,
// spread over spreadOver so a large fleet does not fire in the same second.
// Uniqueness keeps one job per connection and user pending.
func (s *Service) enqueueDue(ctx context.Context, client *river.Client[pgx.Tx], connectionID int64, spreadOver time.Duration) (int, error) {
	due, err := s.store.DueSyncs(ctx, s.cfg.SyncInterval, connectionID)
	if err != nil {
		return 0, err
	}
	type mailbox struct {
		conn int64
		user string
	}
	var order []mailbox
	byMailbox := map[mailbox][]string{}
	for _, d := range due {
		if d.Resource != store.DirectoryResource {
			if _, ok := syncers[d.Resource]; !ok {
				continue
			}
			if len(s.cfg.Resources) > 0 && !slices.Contains(s.cfg.Resources, d.Resource) {
				continue
			}
		}
		m := mailbox{d.ConnectionID, d.UserID}
		if _, ok := byMailbox[m]; !ok {
			order = append(order, m)
		}
		byMailbox[m] = append(byMailbox[m], d.Resource)
	}
	now := time.Now()
	params := make([]river.InsertManyParams, 0, len(order))
	for _, m := range order {
		opts := &river.InsertOpts{}
		if spreadOver > 0 {
			opts.ScheduledAt = now.Add(spread(m.conn, m.user, spreadOver))
		}
		args := SyncArgs{ConnectionID: m.conn, UserID: m.user, Resources: byMailbox[m]}
		if slices.Equal(args.Resources, []string{store.DirectoryResource}) {
			args.Resources = nil
		}
		params = append(params, river.InsertManyParams{Args: args, InsertOpts: opts})
	}
	return insertMany(ctx, client, params)
}
