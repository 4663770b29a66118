package graphsync

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Change is one entry of the change feed: a synced row inserted, updated
// or retired, or an event of a connection, as committed.
type Change struct {
	// Seq identifies the entry; two changes of the same row are in commit
	// order by Seq. A receiver deduplicates changes on it.
	Seq int64 `json:"seq"`
	// Table is the table whose row changed, or "connections".
	Table string `json:"table"`
	// Resource is the table's resource (mail, ..., users); empty for a
	// connection's event.
	Resource   string `json:"resource,omitempty"`
	Connection int64  `json:"connection_id"`
	// User is the mailbox the row was synced for.
	User string `json:"user_id,omitempty"`
	// Item is the row's id: the last column of its key.
	Item string `json:"item_id"`
	// Key holds every key column after connection_id, by name.
	Key json.RawMessage `json:"key"`
	Op  Op              `json:"op"`
	// At is when the writing transaction began: the row's synced_at.
	At time.Time `json:"changed_at"`
	// Data is the row as written, every column but raw and seen_at; for a
	// connection, its id, kind, tenant, user, status and last error.
	Data json.RawMessage `json:"data"`
}

// Op is what happened to a row, or to a connection.
type Op string

const (
	// Created: a new row, or a retired row live again.
	Created Op = "created"
	// Updated: a row's data changed.
	Updated Op = "updated"
	// Deleted: a row retired (deleted_at set) or, for attendees and chat
	// members, removed; a connection deleted with every row synced
	// through it.
	Deleted Op = "deleted"
	// NeedsReauth: a connection's user must sign in again.
	NeedsReauth Op = "needs_reauth"
	// NeedsAdmin: a connection's tenant refuses the app; an administrator
	// of the tenant must act.
	NeedsAdmin Op = "needs_admin"
	// Disabled: an operator stopped a connection.
	Disabled Op = "disabled"
	// Enabled: a connection is active again.
	Enabled Op = "enabled"
)

// ConnectionsTable is the Table of a connection's events.
const ConnectionsTable = "connections"

// Snapshot is a PostgreSQL snapshot (pg_snapshot): every transaction below
// Xmin had finished, none from Xmax on had started, and those in Xip were
// in progress. Its text form is PostgreSQL's, "xmin:xmax:xip,xip".
type Snapshot struct {
	Xmin, Xmax uint64
	Xip        []uint64
}

// IsZero reports whether s is the zero Snapshot.
func (s Snapshot) IsZero() bool { return s.Xmin == 0 && s.Xmax == 0 && len(s.Xip) == 0 }

// Visible reports whether s sees what transaction xid committed
// (pg_visible_in_snapshot).
func (s Snapshot) Visible(xid uint64) bool {
	return xid < s.Xmin || (xid < s.Xmax && !slices.Contains(s.Xip, xid))
}

// FirstInvisible is the lowest transaction s does not see.
func (s Snapshot) FirstInvisible() uint64 {
	if len(s.Xip) > 0 {
		return s.Xip[0]
	}
	return s.Xmax
}

func (s Snapshot) String() string {
	var sb strings.Builder
	sb.WriteString(strconv.FormatUint(s.Xmin, 10))
	sb.WriteByte(':')
	sb.WriteString(strconv.FormatUint(s.Xmax, 10))
	sb.WriteByte(':')
	for i, x := range s.Xip {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(strconv.FormatUint(x, 10))
	}
	return sb.String()
}

// ParseSnapshot reads a snapshot's text form, as pg_current_snapshot()::text
// prints it.
func ParseSnapshot(text string) (Snapshot, error) {
	bad := func(why string) (Snapshot, error) {
		return Snapshot{}, fmt.Errorf("snapshot %q: %s; want xmin:xmax:xip,...", text, why)
	}
	parts := strings.Split(text, ":")
	if len(parts) != 3 {
		return bad("not three parts separated by colons")
	}
	var s Snapshot
	var err error
	if s.Xmin, err = strconv.ParseUint(parts[0], 10, 64); err != nil || s.Xmin == 0 {
		return bad("xmin is not a positive number")
	}
	if s.Xmax, err = strconv.ParseUint(parts[1], 10, 64); err != nil || s.Xmax < s.Xmin {
		return bad("xmax is not a number at least xmin")
	}
	if parts[2] != "" {
		for _, p := range strings.Split(parts[2], ",") {
			x, err := strconv.ParseUint(p, 10, 64)
			if err != nil {
				return bad("an in-progress transaction is not a number")
			}
			if x < s.Xmin || x >= s.Xmax || (len(s.Xip) > 0 && x <= s.Xip[len(s.Xip)-1]) {
				return bad("in-progress transactions must increase within [xmin, xmax)")
			}
			s.Xip = append(s.Xip, x)
		}
	}
	return s, nil
}

// Cursor is a position in the change feed. A reader has read every change
// committed by a transaction Seen sees. Reading goes batch by batch: a
// batch is the changes a later snapshot (Upto) sees and Seen did not, in
// Seq order; within a batch under way, After is the Seq of the last change
// read, and Max the highest Seq Upto sees. A transaction's changes become
// readable when it commits, whatever their Seq, so a reader never skips a
// committed change; and a row's changes are read in commit order.
//
// The zero Cursor is the start of the feed (its oldest change kept).
type Cursor struct {
	Seen       Snapshot
	Upto       Snapshot
	Max, After int64
}

// IsZero reports whether c is the start of the feed.
func (c Cursor) IsZero() bool { return c.Seen.IsZero() }

// InBatch reports whether c is within a batch under way.
func (c Cursor) InBatch() bool { return !c.Upto.IsZero() }

// String is the cursor's one text form: the Seen snapshot, followed within
// a batch by "/" Upto "/" Max "/" After. The zero Cursor is "".
func (c Cursor) String() string {
	if c.IsZero() {
		return ""
	}
	if !c.InBatch() {
		return c.Seen.String()
	}
	return c.Seen.String() + "/" + c.Upto.String() + "/" + strconv.FormatInt(c.Max, 10) + "/" + strconv.FormatInt(c.After, 10)
}

// ParseCursor reads a Cursor from its String; "" is the start of the feed.
func ParseCursor(text string) (Cursor, error) {
	if text == "" {
		return Cursor{}, nil
	}
	bad := func(why string) (Cursor, error) {
		return Cursor{}, fmt.Errorf("cursor %q: %s", text, why)
	}
	parts := strings.Split(text, "/")
	if len(parts) != 1 && len(parts) != 4 {
		return bad("want a snapshot, or snapshot/snapshot/max/after")
	}
	var c Cursor
	var err error
	if c.Seen, err = ParseSnapshot(parts[0]); err != nil {
		return bad(err.Error())
	}
	if len(parts) == 1 {
		return c, nil
	}
	if c.Upto, err = ParseSnapshot(parts[1]); err != nil {
		return bad(err.Error())
	}
	if c.Upto.Xmin < c.Seen.Xmin || c.Upto.Xmax < c.Seen.Xmax {
		return bad("the batch's snapshot is older than the one seen")
	}
	if c.Max, err = strconv.ParseInt(parts[2], 10, 64); err != nil || c.Max < 0 {
		return bad("max is not a number")
	}
	if c.After, err = strconv.ParseInt(parts[3], 10, 64); err != nil || c.After < 0 || c.After > c.Max {
		return bad("after is not a number up to max")
	}
	return c, nil
}

// MarshalText makes a Cursor its String in JSON.
func (c Cursor) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText reads a Cursor from its String.
func (c *Cursor) UnmarshalText(b []byte) error {
	parsed, err := ParseCursor(string(b))
	if err != nil {
		return err
	}
	*c = parsed
	return nil
}
