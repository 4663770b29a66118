package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/pgtest"
	"github.com/graphsync/graphsync/store"
)

// Groups are a tenant-level resource: an application connection that
// enables them has one groups stream with no user, none per user; a
// delegated connection cannot enable them.
func TestGroupsAreTenantLevel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.Store(t)
	app, err := s.SaveConnection(ctx, &store.Connection{
		Kind: store.KindApplication, TenantID: "tenant-1", Resources: []*graphsync.Resource{graphsync.Mail, graphsync.Groups},
	}, store.Tokens{AccessToken: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.InTx(ctx, func(tx store.Tx) error {
		_, err := s.UpsertTx(ctx, tx, graphsync.Users.Items(), app.ID, []graphsync.Row{directoryUser(t, "u1"), directoryUser(t, "u2")}, nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	due, err := s.DueSyncs(ctx, 0, 0, 0, app.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range due {
		got = append(got, d.User+":"+d.Resource.Name())
	}
	if want := ":groups,:users,u1:mail,u2:mail"; strings.Join(got, ",") != want {
		t.Fatalf("due %s, want %s", strings.Join(got, ","), want)
	}

	if _, err := s.SaveConnection(ctx, &store.Connection{Kind: store.KindDelegated, TenantID: "tenant-1", UserID: "u1",
		Resources: []*graphsync.Resource{graphsync.Mail, graphsync.Groups}}, store.Tokens{AccessToken: "a"}); err == nil || !strings.Contains(err.Error(), "groups") {
		t.Fatalf("delegated connection with groups saved (err %v)", err)
	}
	c := newConnection(t, s, "u3", store.Tokens{AccessToken: "a"})
	if err := s.SetResources(ctx, c.ID, []*graphsync.Resource{graphsync.Groups}); err == nil || !strings.Contains(err.Error(), "application") {
		t.Fatalf("groups enabled on a delegated connection (err %v)", err)
	}
	if err := s.SetResources(ctx, app.ID, []*graphsync.Resource{graphsync.Groups}); err != nil {
		t.Fatal(err)
	}
}
