package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/graphsync/graphsync/graphsync"
)

// The change feed (migration 014): triggers on every synced table and on
// connections append to changes in the writing transaction; the store
// reads it with snapshot cursors (graphsync.Cursor), prunes it, and
// listens for its notifications.

// ChangesChannel is the channel every transaction that changes synced rows
// or a connection's status notifies on commit, with a ChangeNotice as JSON.
const ChangesChannel = "graphsync_changes"

// ChangeFilter narrows a read of the feed. The cursor moves past what it
// leaves out.
type ChangeFilter struct {
	// Resources keeps the changes of these resources' tables (by name);
	// a connection's events concern all of them and are always kept.
	Resources []string
	// Connections keeps the changes of these connections.
	Connections []int64
}

// CursorExpiredError is returned for a cursor that had not read changes
// the feed no longer keeps.
type CursorExpiredError struct {
	Cursor graphsync.Cursor
	// Oldest is the oldest cursor available: the start of what is kept.
	Oldest graphsync.Cursor
}

func (e *CursorExpiredError) Error() string {
	return fmt.Sprintf("cursor %q is older than the change feed keeps: changes it had not read were pruned "+
		"(GRAPHSYNC_CHANGES_RETENTION); the oldest cursor available is %q: read from there, and reconcile "+
		"what changed before from the tables", e.Cursor.String(), e.Oldest.String())
}

// changeColumns are a graphsync.Change's columns, in scanChange's order.
const changeColumns = `seq, table_name, coalesce(resource, ''), connection_id, coalesce(user_id, ''), coalesce(item_id, ''),
	key, op, changed_at, data`

func scanChange(rows pgx.CollectableRow) (graphsync.Change, error) {
	var c graphsync.Change
	var op string
	err := rows.Scan(&c.Seq, &c.Table, &c.Resource, &c.Connection, &c.User, &c.Item, &c.Key, &op, &c.At, &c.Data)
	c.Op = graphsync.Op(op)
	return c, err
}

// ChangePage is one read of the feed.
type ChangePage struct {
	Changes []graphsync.Change
	// From is the cursor the page was read from, pinned to its batch
	// (PinChanges): the cursor after Changes[i] is From with After at its
	// Seq. Next is the cursor after them all.
	From, Next graphsync.Cursor
}

// After is the cursor after the page's i-th change.
func (p ChangePage) After(i int) graphsync.Cursor {
	c := p.From
	c.After = p.Changes[i].Seq
	return c
}

// ReadChanges returns up to limit changes after cursor after, in order,
// and the cursor after them. Fewer than limit means the reader has caught
// up with what had committed when the read began. It reads in one
// REPEATABLE READ transaction, so what it returns and the retention it
// checks agree.
func (s *Store) ReadChanges(ctx context.Context, after graphsync.Cursor, f ChangeFilter, limit int) (ChangePage, error) {
	if limit <= 0 {
		return ChangePage{}, fmt.Errorf("read changes: limit %d is not positive", limit)
	}
	var p ChangePage
	err := s.inSnapshot(ctx, func(tx pgx.Tx) error {
		cur, err := pinTx(ctx, tx, after)
		p.From, p.Next = cur, cur
		if err != nil || !cur.InBatch() {
			return err
		}
		b := newArgs(cur.After, cur.Max, cur.Seen.String(), cur.Upto.String(), limit)
		sql := "SELECT " + changeColumns + ` FROM changes
			WHERE seq > $1 AND seq <= $2 AND NOT pg_visible_in_snapshot(xid, $3::pg_snapshot) AND pg_visible_in_snapshot(xid, $4::pg_snapshot)` +
			f.where(b) + " ORDER BY seq LIMIT $5"
		rows, err := tx.Query(ctx, sql, b.args...)
		if err != nil {
			return err
		}
		if p.Changes, err = pgx.CollectRows(rows, scanChange); err != nil {
			return err
		}
		if len(p.Changes) < limit || p.Changes[len(p.Changes)-1].Seq >= cur.Max {
			p.Next = graphsync.Cursor{Seen: cur.Upto}
			return nil
		}
		p.Next = p.After(len(p.Changes) - 1)
		return nil
	})
	if err != nil {
		return ChangePage{}, changesError("read changes after", after, err)
	}
	return p, nil
}

// PinChanges returns the cursor equivalent to c that names its next batch:
// reading from it returns the same changes however much commits meanwhile
// (c itself within a batch; a cursor past everything when nothing is new).
// A delivery that must be retried identically starts from it.
func (s *Store) PinChanges(ctx context.Context, c graphsync.Cursor) (graphsync.Cursor, error) {
	var pinned graphsync.Cursor
	err := s.inSnapshot(ctx, func(tx pgx.Tx) (err error) {
		pinned, err = pinTx(ctx, tx, c)
		return err
	})
	if err != nil {
		return c, changesError("pin the batch after", c, err)
	}
	return pinned, nil
}

// changesError wraps err, leaving a CursorExpiredError as it is: it says
// all.
func changesError(what string, c graphsync.Cursor, err error) error {
	var expired *CursorExpiredError
	if errors.As(err, &expired) {
		return err
	}
	return fmt.Errorf("%s %q: %w", what, c.String(), err)
}

// inSnapshot runs fn in a read-only REPEATABLE READ transaction: one
// snapshot for everything fn reads.
func (s *Store) inSnapshot(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn)
}

// pinTx checks cursor c and, at a batch's boundary, starts the next batch
// at tx's snapshot: the changes it sees that c.Seen did not.
func pinTx(ctx context.Context, tx pgx.Tx, c graphsync.Cursor) (graphsync.Cursor, error) {
	now, horizon, err := feedState(ctx, tx)
	if err != nil {
		return c, err
	}
	if c.IsZero() {
		c = graphsync.Cursor{Seen: horizon}
	}
	if err := checkCursor(c, now, horizon); err != nil {
		return c, err
	}
	if c.InBatch() {
		return c, nil
	}
	first, max, err := batchBounds(ctx, tx, c.Seen, now)
	if err != nil {
		return c, err
	}
	if first == 0 {
		return graphsync.Cursor{Seen: now}, nil
	}
	return graphsync.Cursor{Seen: c.Seen, Upto: now, Max: max, After: first - 1}, nil
}

// where adds the filter's conditions.
func (f ChangeFilter) where(b *args) string {
	sql := ""
	if len(f.Resources) > 0 {
		sql += " AND (resource IS NULL OR resource = ANY(" + b.add(f.Resources) + "))"
	}
	if len(f.Connections) > 0 {
		sql += " AND connection_id = ANY(" + b.add(f.Connections) + ")"
	}
	return sql
}

// feedState reads the current snapshot and the pruning horizon, as a
// snapshot seeing everything pruned and nothing kept.
func feedState(ctx context.Context, q querier) (now, horizon graphsync.Snapshot, err error) {
	var nowText, h string
	if err := q.QueryRow(ctx, "SELECT pg_current_snapshot()::text, horizon::text FROM change_feed").Scan(&nowText, &h); err != nil {
		return now, horizon, err
	}
	if now, err = graphsync.ParseSnapshot(nowText); err != nil {
		return now, horizon, err
	}
	x, err := strconv.ParseUint(h, 10, 64)
	if err != nil {
		return now, horizon, fmt.Errorf("change_feed.horizon %q: %w", h, err)
	}
	return now, graphsync.Snapshot{Xmin: x, Xmax: x}, nil
}

// checkCursor refuses a cursor from elsewhere or one that missed pruned
// changes: every transaction below the horizon must be one it saw.
func checkCursor(c graphsync.Cursor, now, horizon graphsync.Snapshot) error {
	if c.Seen.Xmax > now.Xmax || c.Upto.Xmax > now.Xmax {
		return fmt.Errorf("cursor %q names transactions this database has not begun: it is not one of its cursors", c.String())
	}
	if horizon.Xmin > c.Seen.FirstInvisible() {
		return &CursorExpiredError{Cursor: c, Oldest: graphsync.Cursor{Seen: horizon}}
	}
	return nil
}

// batchBounds returns the lowest Seq of the changes upto sees and seen did
// not (0 when none), and the highest Seq upto sees. The changes seen did
// not are its in-progress transactions' and later ones': both found
// through the xid index. (min(seq + 0), not min(seq): PostgreSQL would
// walk the primary key from the oldest change, past every one seen.)
func batchBounds(ctx context.Context, q querier, seen, upto graphsync.Snapshot) (first, max int64, err error) {
	err = q.QueryRow(ctx, `SELECT
		coalesce((SELECT min(seq + 0) FROM changes WHERE (xid = ANY($1::text[]::xid8[]) OR xid >= $2::text::xid8)
			AND pg_visible_in_snapshot(xid, $3::pg_snapshot)), 0),
		coalesce((SELECT max(seq) FROM changes), 0)`,
		xipTexts(seen), strconv.FormatUint(seen.Xmax, 10), upto.String()).Scan(&first, &max)
	return first, max, err
}

func xipTexts(s graphsync.Snapshot) []string {
	out := make([]string, len(s.Xip))
	for i, x := range s.Xip {
		out[i] = strconv.FormatUint(x, 10)
	}
	return out
}

// ChangesNow returns the cursor of the feed's present: reading from it
// returns the changes committed from now on.
func (s *Store) ChangesNow(ctx context.Context) (graphsync.Cursor, error) {
	now, _, err := feedState(ctx, s.pool)
	if err != nil {
		return graphsync.Cursor{}, fmt.Errorf("read the change feed's position: %w", err)
	}
	return graphsync.Cursor{Seen: now}, nil
}

// OldestChanges returns the oldest cursor available: the start of what the
// feed keeps.
func (s *Store) OldestChanges(ctx context.Context) (graphsync.Cursor, error) {
	_, horizon, err := feedState(ctx, s.pool)
	if err != nil {
		return graphsync.Cursor{}, fmt.Errorf("read the change feed's horizon: %w", err)
	}
	return graphsync.Cursor{Seen: horizon}, nil
}

// Pending is what a cursor has yet to read.
type Pending struct {
	// Changes counts them.
	Changes int64
	// Oldest is when the oldest of them was written; zero when none.
	Oldest time.Time
}

// PendingChanges counts the changes cursor c has not read that f keeps; a
// cursor behind the retention gets a CursorExpiredError.
func (s *Store) PendingChanges(ctx context.Context, c graphsync.Cursor, f ChangeFilter) (Pending, error) {
	var p Pending
	err := s.inSnapshot(ctx, func(tx pgx.Tx) error {
		now, horizon, err := feedState(ctx, tx)
		if err != nil {
			return err
		}
		if c.IsZero() {
			c = graphsync.Cursor{Seen: horizon}
		}
		if err := checkCursor(c, now, horizon); err != nil {
			return err
		}
		upto, after := c.Upto, c.After
		if !c.InBatch() {
			upto, after = c.Seen, 0
		}
		b := newArgs(xipTexts(c.Seen), strconv.FormatUint(c.Seen.Xmax, 10), upto.String(), after)
		var oldest *time.Time
		if err := tx.QueryRow(ctx, `SELECT count(*), min(changed_at) FROM changes
			WHERE (xid = ANY($1::text[]::xid8[]) OR xid >= $2::text::xid8)
				AND NOT (pg_visible_in_snapshot(xid, $3::pg_snapshot) AND seq <= $4)`+f.where(b), b.args...).Scan(&p.Changes, &oldest); err != nil {
			return err
		}
		if oldest != nil {
			p.Oldest = *oldest
		}
		return nil
	})
	if err != nil {
		return Pending{}, changesError("count changes after", c, err)
	}
	return p, nil
}

// pruneBatch bounds one pruning transaction.
const pruneBatch = 10_000

// PruneChanges deletes the changes written before cutoff, and, when also
// is not empty, those every cursor in also has read (a cursor that read
// them all), batch by batch, and returns how many it deleted. What it
// deletes is every change of the transactions below one id, recorded as
// the feed's horizon in the same transaction, so a reader behind it gets
// a CursorExpiredError rather than a silent gap.
func (s *Store) PruneChanges(ctx context.Context, cutoff time.Time, also []graphsync.Cursor) (int64, error) {
	var below uint64
	var text string
	err := s.pool.QueryRow(ctx, `SELECT least(
			coalesce((SELECT xid FROM changes WHERE changed_at >= $1 ORDER BY xid LIMIT 1), pg_snapshot_xmin(pg_current_snapshot())),
			pg_snapshot_xmin(pg_current_snapshot()))::text`, cutoff).Scan(&text)
	if err != nil {
		return 0, fmt.Errorf("prune changes: %w", err)
	}
	if below, err = strconv.ParseUint(text, 10, 64); err != nil {
		return 0, fmt.Errorf("prune changes: %q: %w", text, err)
	}
	if len(also) > 0 {
		read := uint64(math.MaxUint64)
		for _, c := range also {
			read = min(read, c.Seen.FirstInvisible()) // 0 for the start of the feed
		}
		// Readers' snapshots never reach past what has finished.
		now, _, err := feedState(ctx, s.pool)
		if err != nil {
			return 0, fmt.Errorf("prune changes: %w", err)
		}
		below = max(below, min(read, now.Xmin))
	}
	var total int64
	for {
		var n int64
		err := s.InTx(ctx, func(tx Tx) error {
			var top *string
			err := tx.QueryRow(ctx, `WITH gone AS (
					DELETE FROM changes WHERE seq IN (SELECT seq FROM changes WHERE xid < $1::text::xid8 LIMIT $2) RETURNING xid)
				SELECT count(*), max(xid)::text FROM gone`, strconv.FormatUint(below, 10), pruneBatch).Scan(&n, &top)
			if err != nil || top == nil {
				return err
			}
			x, err := strconv.ParseUint(*top, 10, 64)
			if err != nil {
				return err
			}
			_, err = tx.Exec(ctx, "UPDATE change_feed SET horizon = greatest(horizon, $1::text::xid8)", strconv.FormatUint(x+1, 10))
			return err
		})
		if err != nil {
			return total, fmt.Errorf("prune changes: %w", err)
		}
		total += n
		if n < pruneBatch {
			return total, nil
		}
	}
}

// ChangeNotice is what a transaction that wrote changes notifies on
// ChangesChannel, once per table and connection.
type ChangeNotice struct {
	Table      string `json:"table"`
	Resource   string `json:"resource"`
	Connection int64  `json:"connection_id"`
}

// ListenChanges calls fn for every notice on ChangesChannel until ctx ends
// (returning nil) or the connection fails. ready, when not nil, is called
// once listening has begun.
func (s *Store) ListenChanges(ctx context.Context, ready func(), fn func(ChangeNotice)) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("listen for changes: %w", err)
	}
	// The connection leaves the pool: LISTEN is session state.
	pc := conn.Hijack()
	defer pc.Close(context.WithoutCancel(ctx))
	if _, err := pc.Exec(ctx, "LISTEN "+ChangesChannel); err != nil {
		return fmt.Errorf("listen for changes: %w", err)
	}
	if ready != nil {
		ready()
	}
	for {
		n, err := pc.WaitForNotification(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("listen for changes: %w", err)
		}
		var notice ChangeNotice
		if json.Unmarshal([]byte(n.Payload), &notice) == nil {
			fn(notice)
		}
	}
}

// ChangeLog is the size of the change feed.
type ChangeLog struct {
	// Entries is PostgreSQL's estimate of the rows kept.
	Entries int64
	// Bytes is the table's size on disk, indexes included.
	Bytes int64
	// Oldest is when the oldest entry kept was written; zero when none.
	Oldest time.Time
	// Written is how many entries have ever been numbered (the seq
	// reached), a counter for the rate of changes.
	Written int64
}

// ReadChangeLog measures the change feed.
func (s *Store) ReadChangeLog(ctx context.Context) (ChangeLog, error) {
	var l ChangeLog
	var oldest *time.Time
	err := s.pool.QueryRow(ctx, `SELECT
		coalesce((SELECT n_live_tup FROM pg_stat_user_tables WHERE relid = 'changes'::regclass), 0),
		pg_total_relation_size('changes'),
		(SELECT changed_at FROM changes ORDER BY seq LIMIT 1),
		(SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM changes_seq_seq)`).Scan(&l.Entries, &l.Bytes, &oldest, &l.Written)
	if err != nil {
		return l, fmt.Errorf("measure the change feed: %w", err)
	}
	if oldest != nil {
		l.Oldest = *oldest
	}
	return l, nil
}
