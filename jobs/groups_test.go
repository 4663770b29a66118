package jobs_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/internal/verify"
	"github.com/graphsync/graphsync/store"
)

// An application connection with groups enabled syncs the tenant's groups
// and their members through groups/delta, once per tenant: the tables equal
// the truth after the first sync, after members are added and removed and
// groups created and deleted (a group listed several times in one page),
// and after the delta token expires (a full round).
func TestGroupsSyncMatchesGroundTruth(t *testing.T) {
	t.Parallel()
	b := setup(t, options{emu: emulator.Config{Users: 5, MessagesPerUser: 1}, application: true, resources: []string{"groups"}})
	conn := b.conns[0]
	b.syncNow(t, 2*time.Minute)
	b.assertGroupsMatchTruth(t, conn)
	if n := b.count(t, "SELECT count(*) FROM group_members WHERE connection_id = $1 AND deleted_at IS NULL", conn.ID); n == 0 {
		t.Fatal("no membership stored")
	}
	// Groups are the tenant's: one stream with no user, none per user.
	if n := b.count(t, "SELECT count(*) FROM sync_state WHERE connection_id = $1 AND resource = 'groups' AND user_id = '' AND delta_link IS NOT NULL", conn.ID); n != 1 {
		t.Fatalf("%d tenant-level groups streams with a deltaLink, want 1", n)
	}
	if n := b.count(t, "SELECT count(*) FROM sync_state WHERE connection_id = $1 AND resource = 'groups' AND user_id <> ''", conn.ID); n != 0 {
		t.Fatalf("%d groups streams of single users", n)
	}

	users := b.em.Users()
	var security []string
	for _, raw := range b.groupsTruth(t) {
		var g struct {
			ID         string   `json:"id"`
			GroupTypes []string `json:"groupTypes"`
		}
		if err := json.Unmarshal(raw, &g); err != nil {
			t.Fatal(err)
		}
		if len(g.GroupTypes) == 0 {
			security = append(security, g.ID)
		}
	}
	if len(security) < 2 {
		t.Fatalf("the emulator has %d security groups, want 2", len(security))
	}
	// A group created with members, then one member removed and another
	// added: the new group comes three times in the next page.
	created, err := b.em.CreateGroup("Auditors", users[0].ID, users[1].ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.em.RemoveGroupMember(created, users[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := b.em.AddGroupMember(created, users[2].ID); err != nil {
		t.Fatal(err)
	}
	// A member leaves a group.
	truthMembers := b.groupMembers(t, security[0])
	if len(truthMembers) > 0 {
		if err := b.em.RemoveGroupMember(security[0], truthMembers[0]); err != nil {
			t.Fatal(err)
		}
	}
	deleted := security[1]
	if err := b.em.DeleteGroup(deleted); err != nil {
		t.Fatal(err)
	}
	b.syncNow(t, 2*time.Minute)
	b.assertGroupsMatchTruth(t, conn)
	if n := b.count(t, "SELECT count(*) FROM groups WHERE connection_id = $1 AND id = $2 AND deleted_at IS NOT NULL", conn.ID, deleted); n != 1 {
		t.Fatal("the deleted group is not marked deleted")
	}
	if n := b.count(t, "SELECT count(*) FROM group_members WHERE connection_id = $1 AND group_id = $2 AND deleted_at IS NULL", conn.ID, deleted); n != 0 {
		t.Fatalf("%d memberships of the deleted group are still live", n)
	}
	if len(truthMembers) > 0 {
		if n := b.count(t, "SELECT count(*) FROM group_members WHERE connection_id = $1 AND group_id = $2 AND member_id = $3 AND deleted_at IS NOT NULL",
			conn.ID, security[0], truthMembers[0]); n != 1 {
			t.Fatal("the member removed from a group is not marked removed")
		}
	}
	if n := b.count(t, "SELECT count(*) FROM groups WHERE connection_id = $1 AND raw ? 'members@delta'", conn.ID); n != 0 {
		t.Fatalf("%d groups stored with members@delta in raw", n)
	}

	// Random directory changes, then expired delta tokens: a full round
	// that ends equal to the truth.
	b.em.Mutate(60)
	b.syncNow(t, 2*time.Minute)
	b.assertGroupsMatchTruth(t, conn)
	b.em.ExpireDeltaTokens()
	b.em.Mutate(30)
	b.em.ResetCounters()
	b.syncNow(t, 2*time.Minute)
	// Directory delta answers an expired token with 400 syncStateNotFound
	// (Graph's 410 of other services).
	if gone := b.em.Counters().Requests["groups/delta"][400]; gone == 0 {
		t.Fatal("groups/delta did not refuse the expired token")
	}
	if n := b.count(t, "SELECT count(*) FROM sync_state WHERE connection_id = $1 AND resource = 'groups' AND delta_link IS NOT NULL", conn.ID); n != 1 {
		t.Fatal("the full round did not end with a deltaLink")
	}
	b.assertGroupsMatchTruth(t, conn)
}

// groupsTruth is the tenant's groups in the truth.
func (b *bundle) groupsTruth(t *testing.T) []json.RawMessage {
	t.Helper()
	raws, err := b.em.Truth(b.em.Users()[0].ID, "groups")
	if err != nil {
		t.Fatal(err)
	}
	return raws
}

// groupMembers lists a group's members in the truth.
func (b *bundle) groupMembers(t *testing.T, group string) []string {
	t.Helper()
	for _, raw := range b.groupsTruth(t) {
		var g struct {
			ID      string   `json:"id"`
			Members []string `json:"@emulator.members"`
		}
		if err := json.Unmarshal(raw, &g); err != nil {
			t.Fatal(err)
		}
		if g.ID == group {
			return g.Members
		}
	}
	t.Fatalf("group %s is not in the truth", group)
	return nil
}

// assertGroupsMatchTruth compares the connection's groups and memberships
// with the tenant's truth.
func (b *bundle) assertGroupsMatchTruth(t *testing.T, conn *store.Connection) {
	t.Helper()
	results, err := verify.Groups(context.Background(), b.store.Pool(), b.em.URL(), conn.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.Truth == 0 {
			t.Fatalf("%s: the truth is empty; the comparison proves nothing", r.Table)
		}
		if len(r.Diffs) > 0 {
			t.Fatalf("%s differs from ground truth (%d truth, %d rows):\n%v", r.Table, r.Truth, r.Rows, r.Diffs)
		}
	}
}
