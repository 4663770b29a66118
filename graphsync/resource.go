package graphsync

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Resource is a kind of Microsoft 365 data graphsync syncs, described once,
// here: its name, the Graph service that throttles it, the permissions it
// needs, how the sync engine reads it and the tables it writes. The
// resources are the package's variables (Mail, Calendar, ...); compare them
// by pointer.
type Resource struct {
	name        string
	service     Service
	delegated   string // delegated permission (scope)
	application string // application permission (app role)
	// shared is the delegated permission reading another user's mailbox
	// that user shared (Mail.Read.Shared); empty for resources no share
	// reaches.
	shared string
	// also lists further permissions the resource needs, delegated and
	// application alike (a team's channels need the team and channel
	// lists besides the messages).
	also  []string
	shape Shape
	// folders and items are the tables of a FolderTree; items alone is the
	// table of every other shape. outer holds the folders' own containers
	// (a channel's team).
	outer, folders, items *Table
	// extra are tables the resource's engine writes besides these, from
	// what its items carry (a group's memberships).
	extra []*Table
	// defaultFolder names the stream of the folder Graph does not list
	// (the default Contacts folder), synced by its well-known name.
	defaultFolder string
	// parallel is how many of the resource's streams of one user sync at
	// once (folders, chats).
	parallel int
	// notify is how Graph tells of the resource's changes; nil when it
	// cannot (People).
	notify *Notifications
	// tenant says the resource is read once per tenant, not per mailbox:
	// an application connection's stream with no user (user discovery,
	// groups).
	tenant bool
}

// Notifications is how Graph tells of a resource's changes through change
// notifications: what to subscribe to and for how long
// (learn.microsoft.com/graph/api/resources/subscription, "Subscription
// lifetime").
type Notifications struct {
	// Resource is the subscribed Graph resource for a mailbox (the tenant
	// for user discovery, where user is empty).
	Resource func(user string) string
	// ChangeTypes is the subscription's changeType.
	ChangeTypes string
	// MaxLifetime is the longest expiration Microsoft documents.
	MaxLifetime time.Duration
}

// Notifications is how Graph tells of the resource's changes; nil when it
// has no change notifications (the resource is polled).
func (r *Resource) Notifications() *Notifications { return r.notify }

// outlookNotifications subscribes to a mailbox's Outlook collection.
func outlookNotifications(collection string) *Notifications {
	return &Notifications{
		Resource:    func(user string) string { return "users/" + url.PathEscape(user) + "/" + collection },
		ChangeTypes: "created,updated,deleted",
		MaxLifetime: 10080 * time.Minute,
	}
}

// Shape is how the sync engine reads a resource from Graph.
type Shape int

const (
	// FolderTree: the folder hierarchy through one delta, then each live
	// folder's items through their own delta (mail, contacts).
	FolderTree Shape = iota
	// Delta: one delta round over the whole collection (a drive).
	Delta
	// WindowedDelta: a delta over a time window around today that rolls
	// (calendarView).
	WindowedDelta
	// ChatList: the chat list read whole, then each chat's messages newest
	// first from a watermark (Teams chats have no delta).
	ChatList
	// RankedList: a relevance-ranked list re-read whole every round (People).
	RankedList
	// Discovery: the tenant's users through users/delta, for an
	// application connection.
	Discovery
	// ChannelTree: the user's teams and their channels read whole, then
	// each channel's messages through its own delta (Teams channels).
	ChannelTree
	// MemberDelta: one delta round over the tenant's groups, each carrying
	// its membership changes (members@delta), for an application
	// connection.
	MemberDelta
	// SiteTree: the selected SharePoint sites and their document
	// libraries read whole, then each library's items through its drive
	// delta.
	SiteTree
)

// Name is the resource's name in connections.resources, sync_state, logs,
// metrics and the CLI: mail, calendar, contacts, drive, chats, people, users.
func (r *Resource) Name() string { return r.name }

func (r *Resource) String() string { return r.name }

// Service is the Graph workload whose limits the resource's requests count
// against.
func (r *Resource) Service() Service { return r.service }

// Shape is how the sync engine reads the resource.
func (r *Resource) Shape() Shape { return r.shape }

// Items is the table of the resource's items; Folders, of a FolderTree's
// folders (nil otherwise).
func (r *Resource) Items() *Table   { return r.items }
func (r *Resource) Folders() *Table { return r.folders }

// FolderStream is the container of the stream reading the items of the
// Folders row id: the id itself, but for a site's document library, read
// through its drive's delta (LibraryStream).
func (r *Resource) FolderStream(id string) string {
	if r.shape == SiteTree {
		return LibraryStream(id)
	}
	return id
}

// Outer is the table of the containers of a resource's folders (a
// channel's team); nil for most resources.
func (r *Resource) Outer() *Table { return r.outer }

// DefaultFolder is the stream name of the folder Graph does not list; empty
// when every folder is listed.
func (r *Resource) DefaultFolder() string { return r.defaultFolder }

// TenantLevel reports whether the resource is read once per tenant, by an
// application connection's stream with no user, rather than per mailbox.
func (r *Resource) TenantLevel() bool { return r.tenant }

// Parallel is how many of one user's streams of the resource sync at once.
func (r *Resource) Parallel() int { return max(1, r.parallel) }

// Tables lists the tables the resource writes, children included.
func (r *Resource) Tables() []*Table {
	var out []*Table
	for _, t := range []*Table{r.outer, r.folders, r.items} {
		if t == nil {
			continue
		}
		out = append(out, t)
		if t.Child != nil {
			out = append(out, t.Child)
		}
		if t.Details != nil {
			out = append(out, t.Details.Table)
		}
	}
	return append(out, r.extra...)
}

// Permission is the permission reading the resource needs: the delegated
// scope for a user's own connection, the application permission (app role)
// for a whole tenant.
func (r *Resource) Permission(application bool) string {
	if application {
		return r.application
	}
	return r.delegated
}

// SharedPermission is the delegated permission that reads the resource in
// a mailbox its owner shared with the connection's user; empty when the
// resource cannot be read in another user's mailbox.
func (r *Resource) SharedPermission() string { return r.shared }

// Shareable lists the resources of rs a shared mailbox can give.
func Shareable(rs []*Resource) []*Resource {
	var out []*Resource
	for _, r := range rs {
		if r.shared != "" {
			out = append(out, r)
		}
	}
	return out
}

// Resources lists the resources read per mailbox, which a connection of
// either kind can sync, in the order a sync job runs them: mailbox resources first, as they share
// the mailbox's Outlook budget and a user most often checks mail first.
var Resources = []*Resource{Mail, Calendar, Contacts, Drive, Chats, Channels, People}

// TenantResources lists the resources only an application connection can
// enable: tenant-level ones no delegated permission reads (SharePoint
// sites, groups).
var TenantResources = []*Resource{Sites, Groups}

// All lists every resource: those read per mailbox, then user discovery
// and the other tenant-level ones, in sync order.
func All() []*Resource { return slices.Concat(Resources, []*Resource{Users}, TenantResources) }

// Enableable lists the resources a connection can enable: every one but
// user discovery.
func Enableable() []*Resource {
	return slices.DeleteFunc(All(), func(r *Resource) bool { return r == Users })
}

// ParseResource returns the resource of a name, user discovery (users)
// included.
func ParseResource(name string) (*Resource, error) {
	for _, r := range All() {
		if r.name == name {
			return r, nil
		}
	}
	return nil, fmt.Errorf("unknown resource %q (want one of %s)", name, strings.Join(Names(Enableable()), ", "))
}

// ParseResources reads a comma-separated list of syncable resources, in
// the order given, without repeats.
func ParseResources(list string) ([]*Resource, error) {
	var out []*Resource
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		r, err := ParseResource(name)
		if err != nil || r == Users {
			return nil, fmt.Errorf("unknown resource %q (want one of %s)", name, strings.Join(Names(Enableable()), ", "))
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no resource in %q", list)
	}
	return out, nil
}

// Tenant lists the tenant-level resources of rs.
func Tenant(rs []*Resource) []*Resource {
	return slices.DeleteFunc(slices.Clone(rs), func(r *Resource) bool { return !r.tenant })
}

// ApplicationOnly lists the resources of rs a delegated connection cannot
// sync: those with no delegated permission.
func ApplicationOnly(rs []*Resource) []*Resource {
	return slices.DeleteFunc(slices.Clone(rs), func(r *Resource) bool { return r.delegated != "" })
}

// Mailbox lists the resources of rs read per mailbox.
func Mailbox(rs []*Resource) []*Resource {
	return slices.DeleteFunc(slices.Clone(rs), func(r *Resource) bool { return r.tenant })
}

// Notifiable lists the resources Graph sends change notifications about.
func Notifiable() []*Resource {
	var out []*Resource
	for _, r := range All() {
		if r.notify != nil {
			out = append(out, r)
		}
	}
	return out
}

// Names returns the resources' names.
func Names(rs []*Resource) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.name
	}
	return out
}

// Tables lists every table graphsync writes, children included, in
// resource order, each once (libraries' items share the drive's table).
func Tables() []*Table {
	var out []*Table
	for _, r := range All() {
		for _, t := range r.Tables() {
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	return out
}

// baseScopes come with every delegated grant: offline_access for a refresh
// token, openid and profile for the id_token naming the user, User.Read for
// /me.
var baseScopes = []string{"offline_access", "openid", "profile", "User.Read"}

// DelegatedScopes returns the scopes to request for a user who connects
// the given resources, read-only and with a refresh token.
func DelegatedScopes(rs []*Resource) []string {
	out := slices.Clone(baseScopes)
	for _, r := range rs {
		for _, s := range append([]string{r.delegated}, r.also...) {
			if s != "" && !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

// ApplicationPermissions lists the application permissions an admin must
// grant for syncing rs across a tenant, user discovery included.
func ApplicationPermissions(rs []*Resource) []string {
	out := []string{Users.application}
	for _, r := range rs {
		for _, p := range append([]string{r.application}, r.also...) {
			if p != "" && !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

// Granted reports whether scopes (bare or resource-qualified, as the
// identity platform returns them) hold permission.
func Granted(scopes []string, permission string) bool {
	for _, s := range scopes {
		if strings.EqualFold(s, permission) || strings.HasSuffix(strings.ToLower(s), "/"+strings.ToLower(permission)) {
			return true
		}
	}
	return false
}
