package graphsync

import (
	"bytes"

	"github.com/graphsync/graphsync/internal/jsonscan"
)

// ColumnType says how the store writes a row's value into a column: every
// synced value goes through the same cleaning, so a resource only says
// what its columns hold.
type ColumnType int

const (
	// Key is a string that is part of the row's identity: cleaned for
	// PostgreSQL (NUL dropped, invalid UTF-8 replaced), never NULL.
	Key ColumnType = iota
	// Text is an optional string: cleaned, and NULL when empty.
	Text
	// Texts is a string list: each cleaned; NULL when nil.
	Texts
	// Time is a time.Time: NULL when zero.
	Time
	// Value is written as given (*bool, *int32, *int64, int32, nil).
	Value
	// JSON is a JSON document ([]byte): cleaned for jsonb (the \u0000
	// escape dropped, lone surrogates and invalid UTF-8 replaced); NULL when
	// empty or null.
	JSON
)

// Column is one written column of a table.
type Column struct {
	Name string
	Type ColumnType
}

// Row is one item mapped to its table's columns: Values in Table.Columns
// order, and the rows of the table's child table (in Child.Columns order,
// without the connection and parent key the store adds).
type Row struct {
	Values   []any
	Children [][]any
}

// MapContext is what a mapping knows beyond the item itself.
type MapContext struct {
	// User is the mailbox (user id) the item was read from.
	User string
	// Container is the stream's container: the mail or contact folder whose
	// delta listed the item, the chat of a chat message.
	Container string
	// Position is the item's place in a ranked list (people), from 1.
	Position int
}

// Table describes one table graphsync writes: its name, key, columns and
// how an item from Graph becomes a row, plus the behaviours the store
// applies to it. Every synced table has connection_id first in its key and
// the columns raw, deleted_at and synced_at.
type Table struct {
	// Name is the SQL table name.
	Name string
	// Item names one of its items in an operator's words ("message").
	Item string
	// Key lists the key columns after connection_id; default id.
	Key []string
	// Columns are the written columns in Row order, key columns first and
	// raw among them; seen_at, deleted_at and synced_at are the store's.
	Columns []Column
	// Map turns one complete item (partial updates already merged into the
	// stored object) into its row. A failure quarantines the item.
	Map func(raw []byte, c MapContext) (Row, error)
	// Full reports whether an item carries the whole object; partial
	// updates (Graph may send an updated item as its id plus the changed
	// properties) are merged into the stored raw JSON first. Nil: every item
	// is whole.
	Full func(raw []byte) bool
	// Removed reports whether an item is a deletion; default: an @removed
	// tombstone.
	Removed func(raw []byte) bool
	// Prefer is sent as a Prefer header with the table's requests (drive
	// delta's hierarchicalsharing); empty for none.
	Prefer string
	// Path is the Graph path of a stream's first request, given the user's
	// path (/me, or /users/{id} for an application connection) and the
	// stream's container (a folder id).
	Path func(user, container string) string

	// Label is the column that names a row for people (a folder's
	// display_name, a chat's topic): `graphsync connections show` names a
	// container's stream by it.
	Label string
	// Size is the column of a container table counting a container's items
	// as Graph reports them (a folder's totalItemCount): an initial sync
	// starts with the largest containers, so that the longest streams do
	// not start last and leave the mailbox's other request slots idle.
	Size string

	// Seen says the table has seen_at, which a full enumeration sets on
	// every row it lists so that rows it did not list can be retired.
	Seen bool
	// Container is the column holding the stream's container (a message's
	// folder): removals and retirements of a stream touch only rows in its
	// container, so an item moved to another folder stays live whichever
	// folder is synced first.
	Container string
	// DefaultIn, with Container, is the table of the containers listed by
	// Graph (contact folders): the stream of container "" holds the rows in
	// no listed container (the default Contacts folder, which Graph does not
	// list).
	DefaultIn *Table
	// User is the column naming the mailbox a row was read from, used to
	// retire one user's rows; default user_id.
	User string
	// Also lists columns besides raw whose change rewrites a row (a
	// person's rank changes while the person does not).
	Also []string
	// Reset lists columns set to NULL whenever a row is written
	// (removed_reason, deleted_with: a live row has none).
	Reset []string
	// DeletedFrom, when set, is the JSON property holding the time Graph
	// deleted the item (chat messages keep their row with deletedDateTime):
	// deleted_at is then written from the data, and restored from it when
	// a retired parent comes back.
	DeletedFrom string
	// Cascades retire other tables' rows with the rows of this one (the
	// messages of a deleted folder).
	Cascades []Cascade
	// Child is a table whose rows belong to one row of this one (an event's
	// attendees, a chat's members), replaced whenever the parent row
	// changes; its Key names the parent column first.
	Child *Table
	// Details are rows read per row of this one with requests of their own
	// (a message's attachments).
	Details *Details
	// Reconcile lists a stream's ids, for the pass that catches what delta
	// missed; nil when the table has none.
	Reconcile *Reconcile
	// Inherit gives rows without child rows of their own the children of
	// the row that Inherit.Column names (occurrences of a series get their
	// master's attendees), unless their raw JSON has Inherit.Unless.
	Inherit *Inherit
	// Tree says rows form a tree by parent_id with a name (drive items):
	// the store maintains each row's path through renames and moves,
	// retires a deleted folder's descendants (with their cascades, given
	// back with them should an item moved out of the folder bring them
	// back), and a full enumeration retires only within the drives it saw.
	Tree bool
	// Window says rows lie in a time window (calendarView): a removed row
	// whose time is outside the stream's window left it (removed_reason
	// left_window) rather than being deleted.
	Window bool
	// Directory says rows are the users of an application connection: a
	// user who leaves retires every row synced for them and stops their
	// streams; a user who returns resumes them.
	Directory bool
	// Tenant says rows belong to the tenant, read by an application
	// connection's tenant-level stream (groups): the table has no user
	// column, and no user's leaving touches it.
	Tenant bool
	// Shared says rows belong to every member of what they were read
	// through (a chat), not to one user: a user who leaves the tenant does
	// not take them along.
	Shared bool
}

// Reconcile is how a stream's items are listed by id and read one by one,
// to repair what delta missed: Microsoft documents changes delta can leave
// out.
type Reconcile struct {
	// IDs is the path of a listing of the container's ids, paged by
	// nextLinks, given the user's path (/me or /users/{id}).
	IDs func(user, container string) string
	// Item is the path of one item of the container.
	Item func(user, container, id string) string
	// Listed names properties the listing carries (IDs selects them) that
	// an item fetched by Item takes from the listing, present or absent,
	// rather than from its GET: the shared facet, which drive delta serves
	// under Prefer: hierarchicalsharing only on the items holding their
	// own permissions, and a GET on every shared item.
	Listed []string
}

// Cascade retires the rows of Table whose Column holds a retired row's id.
type Cascade struct {
	Table  *Table
	Column string
	// Revive gives the rows back (with Table.DeletedFrom's state) when the
	// retired row is listed again (a chat the user rejoined).
	Revive bool
}

// Inherit names the column pointing at the row whose children a row
// inherits, and the raw property that means it has its own.
type Inherit struct {
	Column, Unless string
}

// KeyColumns returns the key columns after connection_id.
func (t *Table) KeyColumns() []string {
	if len(t.Key) == 0 {
		return []string{"id"}
	}
	return t.Key
}

// UserColumn is the column naming a row's mailbox.
func (t *Table) UserColumn() string {
	if t.User == "" {
		return "user_id"
	}
	return t.User
}

// IsRemoved reports whether item is a deletion.
func (t *Table) IsRemoved(item []byte) bool {
	if t.Removed != nil {
		return t.Removed(item)
	}
	_, gone := Removed(item)
	return gone
}

// IsFull reports whether item carries the whole object.
func (t *Table) IsFull(item []byte) bool {
	return t.Full == nil || t.Full(item)
}

// hasKey returns a Full func for items whose every full object carries key:
// a quoted key cannot occur unescaped inside a JSON string, so a byte search
// suffices where no nested object has the key.
func hasKey(key string) func([]byte) bool {
	q := []byte(`"` + key + `"`)
	return func(raw []byte) bool { return bytes.Contains(raw, q) }
}

// hasTopKey returns a Full func for objects whose key also occurs nested
// (an event's "type" is also an attendee's), checked at the top level only.
func hasTopKey(key string) func([]byte) bool {
	q := `"` + key + `"`
	return func(raw []byte) bool { return hasTopLevelKey(raw, q) }
}

// hasTopLevelKey scans the object's keys without decoding its values. raw
// must be valid JSON, as Page items are; anything but an object has none.
func hasTopLevelKey(raw []byte, quotedKey string) bool {
	found := false
	jsonscan.Members(raw, func(key, _ []byte) bool {
		found = string(key) == quotedKey
		return !found
	})
	return found
}
