package emulator

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Groups and their members, as learn.microsoft.com/graph/api/group-delta,
// delta-query-groups, api/group-list, api/group-get and
// api/group-list-members document them.
//
// The groups collection's log holds two kinds of records: a group's own
// (created, updated, deleted) and membership chunks, each up to
// memberChunk additions or removals made at one version. A chunk is served
// as its group with members@delta, so a group appears once per chunk, as
// delta-query-groups describes for large groups ("you may receive a
// response again containing the same group object ... members@delta now
// contains a different list of users").

type group struct {
	id, name, nick, desc string
	unified              bool // a Microsoft 365 group (a team's); else a security group
	visibility           string
	created              time.Time
	members              []*userRec
	e                    *entry
}

// memberChunk is a membership record: its group and events.
type memberChunk struct {
	g      *group
	events []memberEvent
}

type memberEvent struct {
	u     *userRec
	added bool
}

const memberChunkSize = 20 // membership events per group appearance

var (
	groupScopes = []string{"GroupMember.Read.All", "Group.Read.All", "Group.ReadWrite.All", "Directory.Read.All"}
)

func groupRoutes() []route {
	return []route{
		{"groups", svcDirectory, groupScopes, groupScopes, (*call).listGroups},
		{"groups/delta", svcDirectory, groupScopes, groupScopes, (*call).groupsDelta},
		{"groups/{g}", svcDirectory, groupScopes, groupScopes, (*call).getGroup},
		{"groups/{g}/members", svcDirectory, groupScopes, groupScopes, (*call).listGroupMembers},
	}
}

// genGroups makes a Microsoft 365 group of each team (same id, same
// members) and three security groups of some users.
func (em *Emulator) genGroups() {
	em.groupCol = newCollection("#microsoft.graph.group")
	em.groupCol.tomb = groupTomb
	ver := em.nextVersion()
	for _, tm := range em.teams {
		em.addGroup(ver, &group{id: tm.id, name: tm.name, desc: tm.desc, unified: true, visibility: orDefault(tm.visibility, "Public"),
			created: tm.created, members: slices.Clone(tm.members)})
	}
	r := rand.New(rand.NewPCG(uint64(em.cfg.Seed), 0x6e0))
	for i, name := range []string{"All Engineers", "Finance Approvers", "VPN Users"} {
		var members []*userRec
		for _, u := range em.users {
			if r.IntN(2) == 0 {
				members = append(members, u)
			}
		}
		em.addGroup(ver, &group{id: guidFrom(em.cfg.Seed, "group"+fmt.Sprint(i)), name: name, desc: "Security group: " + strings.ToLower(name),
			created: em.now().AddDate(-1, -i, 0).UTC().Truncate(time.Hour), members: members})
	}
}

func (g *group) object() object {
	nick := g.nick
	if nick == "" {
		nick = strings.ReplaceAll(asciiFold(g.name), "-", "")
	}
	o := object{}
	o.set("id", g.id)
	o.set("createdDateTime", g.created.UTC().Format(graphTime))
	o.set("description", g.desc)
	o.set("displayName", g.name)
	if g.unified {
		o.set("groupTypes", []string{"Unified"})
		o.set("mail", nick+"@contoso.onmicrosoft.com")
		o.set("mailEnabled", true)
		o.set("securityEnabled", false)
		o.set("visibility", g.visibility)
	} else {
		o.set("groupTypes", []string{})
		o.set("mail", nil)
		o.set("mailEnabled", false)
		o.set("securityEnabled", true)
		o.set("visibility", nil)
	}
	o.set("mailNickname", nick)
	return o
}

// addGroup records a new group and its members; em.mu held for writing.
func (em *Emulator) addGroup(ver uint64, g *group) {
	g.e = em.groupCol.add(ver, &entry{key: g.id, id: g.id, obj: g.object(), aux: g})
	em.groups = append(em.groups, g)
	var evs []memberEvent
	for _, u := range g.members {
		evs = append(evs, memberEvent{u, true})
	}
	em.logMembers(ver, g, evs)
}

// logMembers appends membership records of up to memberChunkSize events.
func (em *Emulator) logMembers(ver uint64, g *group, evs []memberEvent) {
	for i := 0; i < len(evs); i += memberChunkSize {
		key := fmt.Sprintf("%s#members#%d#%d", g.id, ver, i)
		em.groupCol.add(ver, &entry{key: key, id: g.id, obj: object{{"id", raw(g.id)}}, aux: &memberChunk{g: g, events: evs[i:min(i+memberChunkSize, len(evs))]}})
	}
}

// groupTomb renders a deleted group: a Microsoft 365 group goes to the
// deleted items, restorable for 30 days (reason "changed"); a security
// group is deleted for good ("deleted"), as delta-query-overview defines
// the reasons.
func groupTomb(dst []byte, e *entry, id string) []byte {
	reason := "deleted"
	if g, ok := e.aux.(*group); ok && g.unified {
		reason = "changed"
	}
	o := object{}
	o.set("@odata.type", "#microsoft.graph.group")
	o.set("id", id)
	o.set("@removed", map[string]string{"reason": reason})
	b, _, _ := o.encode(nil, nil)
	return append(dst, b...)
}

func (em *Emulator) groupByID(id string) *group {
	for _, g := range em.groups {
		if strings.EqualFold(g.id, id) && !g.e.deleted {
			return g
		}
	}
	return nil
}

// AddGroupMember and RemoveGroupMember change a group's members, as an
// administrator does; groups/delta reports the change in members@delta.
func (em *Emulator) AddGroupMember(groupID, userID string) error {
	return em.changeMember(groupID, userID, true)
}

// RemoveGroupMember: see AddGroupMember.
func (em *Emulator) RemoveGroupMember(groupID, userID string) error {
	return em.changeMember(groupID, userID, false)
}

func (em *Emulator) changeMember(groupID, userID string, add bool) error {
	em.mu.Lock()
	defer em.mu.Unlock()
	g, u := em.groupByID(groupID), em.lookupUser(userID)
	switch {
	case g == nil:
		return fmt.Errorf("group %q not found", groupID)
	case u == nil:
		return fmt.Errorf("user %q not found", userID)
	case g.unified:
		return fmt.Errorf("group %q is a team's: its members are the team's", groupID)
	case add == slices.Contains(g.members, u):
		return fmt.Errorf("user %q is already (or is not) a member of group %q", userID, groupID)
	}
	em.setMember(em.nextVersion(), g, u, add)
	return nil
}

func (em *Emulator) setMember(ver uint64, g *group, u *userRec, add bool) {
	if add {
		g.members = append(g.members, u)
	} else {
		g.members = slices.DeleteFunc(g.members, func(x *userRec) bool { return x == u })
	}
	em.logMembers(ver, g, []memberEvent{{u, add}})
}

// CreateGroup adds a security group with the given members (ids or UPNs)
// and returns its id; DeleteGroup deletes a group (a team's cannot be).
func (em *Emulator) CreateGroup(name string, memberIDs ...string) (string, error) {
	em.mu.Lock()
	defer em.mu.Unlock()
	if strings.TrimSpace(name) == "" {
		return "", fmt.Errorf("create group: empty name")
	}
	var members []*userRec
	for _, id := range memberIDs {
		u := em.lookupUser(id)
		if u == nil {
			return "", fmt.Errorf("create group: user %q not found", id)
		}
		members = append(members, u)
	}
	ver := em.nextVersion()
	g := &group{id: guidFrom(int64(ver), "group "+name+em.cfg.TenantID), name: name, desc: "Security group: " + strings.ToLower(name),
		created: em.now().UTC().Truncate(time.Second), members: members}
	em.addGroup(ver, g)
	return g.id, nil
}

// DeleteGroup deletes a security group.
func (em *Emulator) DeleteGroup(groupID string) error {
	em.mu.Lock()
	defer em.mu.Unlock()
	g := em.groupByID(groupID)
	if g == nil || g.unified {
		return fmt.Errorf("delete group: no security group %q", groupID)
	}
	em.groupCol.remove(em.nextVersion(), g.e)
	return nil
}

// mutateGroups adds and removes members of security groups, creates and
// deletes security groups and renames groups.
func (em *Emulator) mutateGroups(r *rand.Rand, ver uint64) string {
	var security []*group
	for _, g := range em.groups {
		if !g.unified && !g.e.deleted {
			security = append(security, g)
		}
	}
	op := r.IntN(100)
	switch {
	case op < 10 || len(security) == 0:
		g := &group{id: guidFrom(int64(ver), "group"+em.cfg.TenantID), name: pick(r, []string{"Project ", "Équipe ", "Committee "}) + pick(r, words),
			created: em.now().UTC().Truncate(time.Second)}
		for _, u := range em.users {
			if r.IntN(3) == 0 {
				g.members = append(g.members, u)
			}
		}
		g.desc = "Security group: " + strings.ToLower(g.name)
		em.addGroup(ver, g)
		return "group created " + g.id
	case op < 15 && len(security) > 1:
		g := pick(r, security)
		em.groupCol.remove(ver, g.e)
		return "group deleted " + g.id
	case op < 25:
		live := slices.DeleteFunc(slices.Clone(em.groups), func(g *group) bool { return g.e.deleted })
		g := pick(r, live)
		g.desc = g.desc + " (" + pick(r, words) + ")"
		g.e.obj.set("description", g.desc)
		em.groupCol.update(ver, g.e, "description")
		return "group updated " + g.id
	}
	g := pick(r, security)
	u := pick(r, em.users)
	add := !slices.Contains(g.members, u)
	em.setMember(ver, g, u, add)
	if add {
		return "groupMember added " + g.id + "/" + u.id
	}
	return "groupMember removed " + g.id + "/" + u.id
}

// userLeftGroups removes a user RemoveUser deleted from their groups' lists
// (members@delta reports them removed); userBackInGroups adds them back on
// RestoreUser, as restoring a user restores their memberships. em.mu held.
func (em *Emulator) userLeftGroups(ver uint64, u *userRec) {
	for _, g := range em.groups {
		if !g.e.deleted && slices.Contains(g.members, u) {
			em.logMembers(ver, g, []memberEvent{{u, false}})
		}
	}
}

func (em *Emulator) userBackInGroups(ver uint64, u *userRec) {
	for _, g := range em.groups {
		if !g.e.deleted && slices.Contains(g.members, u) {
			em.logMembers(ver, g, []memberEvent{{u, true}})
		}
	}
}

// memberObject is a member as members@delta lists it.
func memberObject(u *userRec, added bool) map[string]any {
	m := map[string]any{"@odata.type": "#microsoft.graph.user", "id": u.id}
	if !added {
		m["@removed"] = map[string]string{"reason": "deleted"}
	}
	return m
}

// groupsDelta serves /groups/delta: $select (members or $expand=members
// for membership, tracked by default), $filter on ids, $deltaToken=latest;
// $top and $orderby refused, as for users.
func (c *call) groupsDelta() {
	em := c.em
	c.serveDelta(deltaSpec{
		key: "groups", col: func() *collection { return em.groupCol }, path: "/groups/delta",
		context: c.context("groups"), defSize: 100, maxSize: 999, latest: "$deltatoken",
		initial: func(c *call, q url.Values) (map[string]string, bool) {
			return deltaOptions(c, q, "Request_UnsupportedQuery", "Unsupported query option '%s' for delta query.", map[string]deltaOption{
				"select": carry,
				"expand": func(c *call, v string) (string, bool) {
					if !strings.EqualFold(strings.TrimSpace(v), "members") {
						return reject(c, "Request_UnsupportedQuery", fmt.Sprintf("Unsupported expand '%s' for delta query.", v))
					}
					return "members", true
				},
				"filter": func(c *call, v string) (string, bool) {
					if _, ok := parseIDFilter(v); !ok {
						return reject(c, "Request_UnsupportedQuery", "Only 'id eq' filters of up to 50 ids are supported for delta query.")
					}
					return v, true
				},
			})
		},
		filter: func(opts map[string]string) func(*entry, uint64) bool {
			ids, _ := parseIDFilter(opts["$filter"])
			sel := selectSet(opts["$select"])
			members := sel == nil || sel["members"] || opts["$expand"] == "members"
			return func(e *entry, _ uint64) bool {
				if len(ids) > 0 && !ids[strings.ToLower(e.id)] {
					return false
				}
				if ch, ok := e.aux.(*memberChunk); ok {
					return members && !ch.g.e.deleted
				}
				return true
			}
		},
		expand: func(opts map[string]string, _ uint64) func(*entry, object) object {
			sel := selectSet(opts["$select"])
			return func(e *entry, o object) object {
				if ch, ok := e.aux.(*memberChunk); ok {
					o = ch.g.e.obj.clone()
					var ms []any
					for _, ev := range ch.events {
						ms = append(ms, memberObject(ev.u, ev.added))
					}
					o.set("members@delta", ms)
				}
				if sel == nil {
					return o
				}
				return slices.DeleteFunc(o, func(f field) bool {
					k := strings.ToLower(f.k)
					return !alwaysSelected(f.k) && !sel[k] && k != "members@delta"
				})
			}
		},
	})
}

// parseIDFilter reads "id eq 'a' or id eq 'b'" (up to 50 ids).
func parseIDFilter(s string) (map[string]bool, bool) {
	if strings.TrimSpace(s) == "" {
		return nil, true
	}
	ids := map[string]bool{}
	for _, clause := range strings.Split(s, " or ") {
		f := strings.Fields(clause)
		if len(f) != 3 || !strings.EqualFold(f[0], "id") || f[1] != "eq" {
			return nil, false
		}
		ids[strings.ToLower(strings.Trim(f[2], "'"))] = true
	}
	return ids, len(ids) <= 50
}

func (c *call) listGroups() {
	items := c.encodeAll(func() []object {
		return objectsOf(c.em.groups, func(g *group) object {
			if g.e.deleted {
				return nil
			}
			return g.e.obj
		})
	})
	c.servePaged(items, c.context("groups"), 100, 999)
}

func (c *call) groupFor() *group {
	c.em.mu.RLock()
	g := c.em.groupByID(c.args["g"])
	c.em.mu.RUnlock()
	if g == nil {
		c.fail(http.StatusNotFound, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", c.args["g"]))
	}
	return g
}

func (c *call) getGroup() {
	g := c.groupFor()
	if g == nil {
		return
	}
	c.writeEntity(func() object { return g.e.obj }, "groups/$entity")
}

// listGroupMembers serves /groups/{id}/members: the members as users
// (directoryObject collection), 100 a page.
func (c *call) listGroupMembers() {
	g := c.groupFor()
	if g == nil {
		return
	}
	items := c.encodeAll(func() []object {
		return objectsOf(g.members, func(u *userRec) object {
			if _, live := c.em.userByID[u.id]; !live {
				return nil
			}
			return append(object{{"@odata.type", raw("#microsoft.graph.user")}}, u.obj...)
		})
	})
	c.servePaged(items, c.context("directoryObjects"), 100, 999)
}

// groupsTruth lists every live group as delta serves it without $select,
// members@delta aside, plus @emulator.members: its members' ids, sorted.
func (em *Emulator) groupsTruth() []json.RawMessage {
	out := []json.RawMessage{}
	for _, g := range em.groups {
		if g.e.deleted {
			continue
		}
		o := g.e.obj.clone()
		var ids []string
		for _, u := range g.members {
			if _, live := em.userByID[u.id]; live {
				ids = append(ids, u.id)
			}
		}
		slices.Sort(ids)
		o.set("@emulator.members", ids)
		b, _, _ := o.encode(nil, nil)
		out = append(out, b)
	}
	return out
}
