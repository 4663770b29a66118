package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/graphsync/graphsync/graphsync"
)

// copyThreshold is the batch size from which rows go through COPY instead
// of a multi-row INSERT: COPY wins on large pages, the extra statements lose
// on small ones.
const copyThreshold = 64

// UpsertTx writes rows of t for a connection; seenAt, when set, marks them
// seen by a full enumeration begun then. A row whose data did not change is
// left alone (a full round only moves its seen mark), so idle syncs write
// nothing and synced_at keeps the time the row last changed. Rows repeating
// a key keep the last one, as a later delta entry supersedes an earlier one.
// It returns how many rows changed.
func (s *Store) UpsertTx(ctx context.Context, tx Tx, t *graphsync.Table, conn int64, rows []graphsync.Row, seenAt *time.Time) (int64, error) {
	rows = dedupe(t, rows)
	if len(rows) == 0 {
		return 0, nil
	}
	q := queriesOf(t)
	values := make([][]any, len(rows))
	for i, r := range rows {
		values[i] = q.values(conn, r.Values, seenAt)
	}
	var placed map[string]placement
	var revived []string
	ids := keyColumn(values, len(q.key)) // the last key column: id
	if t.Tree {
		var err error
		if placed, err = drivePlacement(ctx, tx, t, conn, ids); err != nil {
			return 0, err
		}
	}
	if q.revives {
		var err error
		if revived, err = deletedAmong(ctx, tx, t, conn, ids); err != nil {
			return 0, err
		}
	}
	n, changed, err := q.write(ctx, tx, t, values)
	if err != nil {
		return 0, err
	}
	if t.Child != nil && len(changed) > 0 {
		if err := replaceChildrenTx(ctx, tx, t, conn, rows, changed); err != nil {
			return 0, err
		}
	}
	if t.Tree {
		var moved []string
		for i, r := range rows {
			id := ids[i]
			name, _ := r.Values[q.column("name")].(string)
			parent, _ := r.Values[q.column("parent_id")].(string)
			if placed[id] != (placement{CleanText(name), CleanText(parent)}) {
				moved = append(moved, id)
			}
		}
		if err := updatePathsTx(ctx, tx, t, conn, moved); err != nil {
			return 0, err
		}
	}
	for _, c := range t.Cascades {
		if c.Revive && len(revived) > 0 {
			if err := reviveTx(ctx, tx, c, conn, revived); err != nil {
				return 0, err
			}
		}
	}
	if t.Directory {
		if err := resumeUsersTx(ctx, tx, conn, ids); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// tableQueries holds what is derived once per table: column lists and the
// upsert statement.
type tableQueries struct {
	key      []string // key columns after connection_id
	columns  []string // connection_id, the table's columns, seen_at if any
	types    []graphsync.ColumnType
	index    map[string]int // column name -> position in Table.Columns
	upsert   string         // INSERT ... VALUES %s ON CONFLICT ..., with the RETURNING wrapper
	conflict string
	needIDs  bool // the upsert must return the changed rows' ids
	revives  bool
}

var queryCache sync.Map // *graphsync.Table -> *tableQueries

func queriesOf(t *graphsync.Table) *tableQueries {
	if q, ok := queryCache.Load(t); ok {
		return q.(*tableQueries)
	}
	q := &tableQueries{key: t.KeyColumns(), index: map[string]int{}}
	q.columns = append(q.columns, "connection_id")
	q.types = append(q.types, graphsync.Value)
	for i, c := range t.Columns {
		q.columns = append(q.columns, c.Name)
		q.types = append(q.types, c.Type)
		q.index[c.Name] = i
	}
	if t.Seen {
		q.columns = append(q.columns, "seen_at")
		q.types = append(q.types, graphsync.Value)
	}
	for _, c := range t.Cascades {
		q.revives = q.revives || c.Revive
	}
	q.needIDs = t.Child != nil || t.Tree || t.Directory

	// As jsonb: json (mail_messages' raw) has no equality, and two
	// spellings of one object are no change.
	changed := []string{"cur.raw::jsonb IS DISTINCT FROM EXCLUDED.raw::jsonb"}
	if _, own := q.index["deleted_at"]; own {
		changed = append(changed, "cur.deleted_at IS DISTINCT FROM EXCLUDED.deleted_at")
	} else {
		changed = append(changed, "cur.deleted_at IS NOT NULL")
	}
	for _, c := range t.Also {
		changed = append(changed, "cur."+c+" IS DISTINCT FROM EXCLUDED."+c)
	}
	cond := "(" + strings.Join(changed, " OR ") + ")"
	var sets []string
	for _, c := range t.Columns[len(q.key):] {
		sets = append(sets, c.Name+" = EXCLUDED."+c.Name)
	}
	if _, own := q.index["deleted_at"]; !own {
		sets = append(sets, "deleted_at = NULL")
	}
	for _, c := range t.Reset {
		sets = append(sets, c+" = NULL")
	}
	where := cond
	if t.Seen {
		sets = append(sets, "seen_at = coalesce(EXCLUDED.seen_at, cur.seen_at)")
		where += " OR EXCLUDED.seen_at IS NOT NULL"
	}
	sets = append(sets, "synced_at = CASE WHEN "+cond+" THEN now() ELSE cur.synced_at END")
	q.conflict = " ON CONFLICT (connection_id, " + strings.Join(q.key, ", ") + ") DO UPDATE SET " +
		strings.Join(sets, ", ") + " WHERE " + where
	id := "NULL::text"
	if q.needIDs {
		id = q.key[len(q.key)-1]
	}
	q.upsert = "WITH w AS (INSERT INTO " + t.Name + " AS cur (" + strings.Join(q.columns, ", ") + ") %s" + q.conflict +
		" RETURNING " + id + " AS id, synced_at = now() AS changed)" +
		" SELECT count(*) FILTER (WHERE changed), coalesce(array_agg(id) FILTER (WHERE changed AND id IS NOT NULL), '{}') FROM w"
	actual, _ := queryCache.LoadOrStore(t, q)
	return actual.(*tableQueries)
}

// column is the position of a written column in a row's values.
func (q *tableQueries) column(name string) int {
	i, ok := q.index[name]
	if !ok {
		panic("store: no column " + name)
	}
	return i
}

// values turns a mapped row into the statement's values, cleaned for
// PostgreSQL column by column.
func (q *tableQueries) values(conn int64, row []any, seenAt *time.Time) []any {
	out := make([]any, len(q.columns))
	out[0] = conn
	for i, v := range row {
		out[i+1] = clean(q.types[i+1], v)
	}
	if len(out) > len(row)+1 {
		out[len(row)+1] = seenAt
	}
	return out
}

// storableJSON is a JSON value Prepare made storable: clean takes it as is.
type storableJSON []byte

// Prepare makes row's JSON values storable as UpsertTx would, so that the
// check of their every byte can run before the row's transaction rather
// than while it holds locks; UpsertTx does not check them again.
func Prepare(t *graphsync.Table, row *graphsync.Row) {
	q := queriesOf(t)
	for i, v := range row.Values {
		if i+1 >= len(q.types) || q.types[i+1] != graphsync.JSON {
			continue
		}
		if b, ok := clean(graphsync.JSON, v).([]byte); ok {
			row.Values[i] = storableJSON(b)
		} else {
			row.Values[i] = nil
		}
	}
}

// clean makes v storable in a column of type ct: text cleaned (NUL dropped,
// invalid UTF-8 replaced), empty optional values NULL, JSON made valid jsonb.
func clean(ct graphsync.ColumnType, v any) any {
	switch ct {
	case graphsync.Key:
		s, _ := v.(string)
		return CleanText(s)
	case graphsync.Text:
		s, _ := v.(string)
		return textOrNil(s)
	case graphsync.Texts:
		ss, _ := v.([]string)
		return cleanAll(ss)
	case graphsync.Time:
		t, _ := v.(time.Time)
		return timeOrNil(t)
	case graphsync.JSON:
		var b []byte
		switch x := v.(type) {
		case storableJSON:
			return []byte(x)
		case []byte:
			b = x
		case json.RawMessage:
			b = x
		}
		if len(b) == 0 || string(b) == "null" {
			return nil
		}
		return CleanJSON(b)
	}
	return v
}

// write runs the upsert and returns how many rows changed and, when the
// table needs them, the changed rows' ids.
func (q *tableQueries) write(ctx context.Context, tx Tx, t *graphsync.Table, values [][]any) (int64, []string, error) {
	if len(values) < copyThreshold {
		var sb strings.Builder
		args := make([]any, 0, len(values)*len(q.columns))
		sb.WriteString("VALUES ")
		for i, r := range values {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteByte('(')
			for j := range r {
				if j > 0 {
					sb.WriteString(", ")
				}
				sb.WriteByte('$')
				sb.WriteString(strconv.Itoa(len(args) + j + 1))
			}
			sb.WriteByte(')')
			args = append(args, r...)
		}
		return q.run(ctx, tx, t, fmt.Sprintf(q.upsert, sb.String()), args...)
	}

	// A page of rows none of which is stored yet (an initial sync) goes
	// straight into the table: the conflict handling below would find
	// nothing to do and cost as much again as the COPY. Should another
	// transaction store one of them in between (a chat shared by two users
	// of a tenant), the savepoint is rolled back and the rows merged below.
	stored, err := anyStored(ctx, tx, t, q, values)
	if err != nil {
		return 0, nil, err
	}
	if !stored {
		n, err := copyNewTx(ctx, tx, t, q, values)
		var pgErr *pgconn.PgError
		switch {
		case err == nil:
			var ids []string
			if q.needIDs {
				ids = keyColumn(values, len(q.key))
			}
			return n, ids, nil
		case !errors.As(err, &pgErr) || pgErr.Code != pgerrcode.UniqueViolation:
			return 0, nil, fmt.Errorf("upsert %s: copy: %w", t.Name, err)
		}
	}

	stage := "stage_" + t.Name
	if _, err := tx.Exec(ctx, "CREATE TEMP TABLE IF NOT EXISTS "+stage+" (LIKE "+t.Name+" INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"); err != nil {
		return 0, nil, fmt.Errorf("upsert %s: create staging table: %w", t.Name, err)
	}
	// A staging table left with rows by an earlier failed statement in this
	// transaction would be reused; start it empty.
	if _, err := tx.Exec(ctx, "TRUNCATE "+stage); err != nil {
		return 0, nil, fmt.Errorf("upsert %s: %w", t.Name, err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{stage}, q.columns, pgx.CopyFromRows(values)); err != nil {
		return 0, nil, fmt.Errorf("upsert %s: copy: %w", t.Name, err)
	}
	cols := strings.Join(q.columns, ", ")
	return q.run(ctx, tx, t, fmt.Sprintf(q.upsert, "SELECT "+cols+" FROM "+stage))
}

func (q *tableQueries) run(ctx context.Context, tx Tx, t *graphsync.Table, sql string, args ...any) (int64, []string, error) {
	var n int64
	var ids []string
	if err := tx.QueryRow(ctx, sql, args...).Scan(&n, &ids); err != nil {
		return 0, nil, fmt.Errorf("upsert %s: %w", t.Name, err)
	}
	return n, ids, nil
}

// anyStored reports whether a row with one of values' keys exists.
func anyStored(ctx context.Context, tx Tx, t *graphsync.Table, q *tableQueries, values [][]any) (bool, error) {
	var cols, params []string
	args := []any{values[0][0]}
	for k, name := range q.key {
		cols = append(cols, name)
		args = append(args, keyColumnAt(values, k+1))
		params = append(params, "$"+strconv.Itoa(k+2)+"::text[]")
	}
	var stored bool
	err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM "+t.Name+" WHERE connection_id = $1 AND ("+strings.Join(cols, ", ")+
		") IN (SELECT * FROM unnest("+strings.Join(params, ", ")+")))", args...).Scan(&stored)
	if err != nil {
		return false, fmt.Errorf("upsert %s: %w", t.Name, err)
	}
	return stored, nil
}

// copyNewTx COPYs rows into t within a savepoint.
func copyNewTx(ctx context.Context, tx Tx, t *graphsync.Table, q *tableQueries, values [][]any) (int64, error) {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return 0, err
	}
	n, err := sp.CopyFrom(ctx, pgx.Identifier{t.Name}, q.columns, pgx.CopyFromRows(values))
	if err != nil {
		_ = sp.Rollback(ctx)
		return 0, err
	}
	return n, sp.Commit(ctx)
}

// dedupe keeps the last row of each key.
func dedupe(t *graphsync.Table, rows []graphsync.Row) []graphsync.Row {
	if len(rows) < 2 {
		return rows
	}
	n := len(t.KeyColumns())
	key := func(r graphsync.Row) string {
		var sb strings.Builder
		for _, v := range r.Values[:min(n, len(r.Values))] {
			s, _ := v.(string)
			sb.WriteString(CleanText(s))
			sb.WriteByte(0)
		}
		return sb.String()
	}
	last := make(map[string]int, len(rows))
	for i, r := range rows {
		last[key(r)] = i
	}
	if len(last) == len(rows) {
		return rows
	}
	out := make([]graphsync.Row, 0, len(last))
	for i, r := range rows {
		if last[key(r)] == i {
			out = append(out, r)
		}
	}
	return out
}

// keyColumn returns the last key column of values (after connection_id):
// the rows' ids.
func keyColumn(values [][]any, keys int) []string { return keyColumnAt(values, keys) }

func keyColumnAt(values [][]any, col int) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i], _ = v[col].(string)
	}
	return out
}

// replaceChildrenTx replaces the child rows of the changed parents.
func replaceChildrenTx(ctx context.Context, tx Tx, t *graphsync.Table, conn int64, rows []graphsync.Row, changed []string) error {
	child := t.Child
	parentCol := child.KeyColumns()[0]
	if _, err := tx.Exec(ctx, "DELETE FROM "+child.Name+" WHERE connection_id = $1 AND "+parentCol+" = ANY($2)", conn, changed); err != nil {
		return fmt.Errorf("replace %s: %w", child.Name, err)
	}
	want := make(map[string]bool, len(changed))
	for _, id := range changed {
		want[id] = true
	}
	idCol := len(t.KeyColumns()) - 1
	childKeys := len(child.KeyColumns()) - 1
	var values [][]any
	for _, r := range rows {
		id, _ := r.Values[idCol].(string)
		id = CleanText(id)
		if !want[id] {
			continue
		}
		seen := map[string]bool{}
		for _, c := range r.Children {
			k := fmt.Sprint(c[:childKeys]...)
			if seen[k] {
				continue // a repeated child keeps its first occurrence
			}
			seen[k] = true
			v := make([]any, 0, len(c)+2)
			v = append(v, conn, id)
			for i, x := range c {
				v = append(v, clean(child.Columns[i].Type, x))
			}
			values = append(values, v)
		}
	}
	if len(values) > 0 {
		cols := []string{"connection_id", parentCol}
		for _, c := range child.Columns {
			cols = append(cols, c.Name)
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{child.Name}, cols, pgx.CopyFromRows(values)); err != nil {
			return fmt.Errorf("replace %s: %w", child.Name, err)
		}
	}
	if t.Inherit != nil {
		return inheritChildrenTx(ctx, tx, t, conn, changed)
	}
	return nil
}

// inheritChildrenTx gives rows that have no children of their own those of
// the row Inherit.Column points at (an occurrence its series master's
// attendees), for the changed rows and the rows pointing at them.
func inheritChildrenTx(ctx context.Context, tx Tx, t *graphsync.Table, conn int64, changed []string) error {
	child, in := t.Child, t.Inherit
	parentCol := child.KeyColumns()[0]
	var cols []string
	for _, c := range child.Columns {
		cols = append(cols, c.Name)
	}
	inheritors := `SELECT o.id, o.` + in.Column + ` AS master FROM ` + t.Name + ` o
		WHERE o.connection_id = $1 AND o.` + in.Column + ` IS NOT NULL AND NOT o.raw ? '` + in.Unless + `'
			AND (o.id = ANY($2) OR o.` + in.Column + ` = ANY($2))`
	if _, err := tx.Exec(ctx, `DELETE FROM `+child.Name+` a USING (`+inheritors+`) occ
		WHERE a.connection_id = $1 AND a.`+parentCol+` = occ.id`, conn, changed); err != nil {
		return fmt.Errorf("inherit %s: %w", child.Name, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO `+child.Name+` (connection_id, `+parentCol+`, `+strings.Join(cols, ", ")+`)
		SELECT $1, occ.id, a.`+strings.Join(cols, ", a.")+`
		FROM (`+inheritors+`) occ JOIN `+child.Name+` a ON a.connection_id = $1 AND a.`+parentCol+` = occ.master`,
		conn, changed); err != nil {
		return fmt.Errorf("inherit %s: %w", child.Name, err)
	}
	return nil
}

// deletedAmong returns the ids among ids whose rows are retired.
func deletedAmong(ctx context.Context, tx Tx, t *graphsync.Table, conn int64, ids []string) ([]string, error) {
	rows, err := tx.Query(ctx, "SELECT id FROM "+t.Name+" WHERE connection_id = $1 AND id = ANY($2) AND deleted_at IS NOT NULL", conn, ids)
	if err != nil {
		return nil, fmt.Errorf("find retired %s: %w", t.Name, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("find retired %s: %w", t.Name, err)
	}
	return out, nil
}

// reviveTx gives back the rows a cascade retired with parents listed again,
// each with the deletion state its own data gives it.
func reviveTx(ctx context.Context, tx Tx, c graphsync.Cascade, conn int64, parents []string) error {
	state := "NULL::timestamptz"
	if c.Table.DeletedFrom != "" {
		state = "(raw->>'" + c.Table.DeletedFrom + "')::timestamptz"
	}
	if _, err := tx.Exec(ctx, "UPDATE "+c.Table.Name+" SET deleted_at = "+state+", synced_at = now()"+
		" WHERE connection_id = $1 AND "+c.Column+" = ANY($2) AND deleted_at IS DISTINCT FROM "+state, conn, parents); err != nil {
		return fmt.Errorf("restore %s of relisted rows: %w", c.Table.Name, err)
	}
	return nil
}

// Removed counts what a removal retired.
type Removed struct {
	// Deleted rows are gone in Microsoft 365; Left rows only left the
	// stream's window (they still exist).
	Deleted, Left int64
}

// Total is every row the removal retired.
func (r Removed) Total() int64 { return r.Deleted + r.Left }

// RemoveTx retires rows Graph reported removed in stream st: of st's
// container only, so an item already stored under another container moved
// there and stays live; outside the stream's window w (Table.Window) as
// left_window. Rows of the table's cascades go with them.
func (s *Store) RemoveTx(ctx context.Context, tx Tx, t *graphsync.Table, st graphsync.Stream, ids []string, w graphsync.Window) (Removed, error) {
	if len(ids) == 0 {
		return Removed{}, nil
	}
	clean := cleanAll(ids)
	switch {
	case t.Window:
		return retireWindowTx(ctx, tx, t, st.Connection, w, "id = ANY($4)", clean)
	case t.Tree:
		retired, err := deleteTreeTx(ctx, tx, t, st.Connection, clean)
		if err != nil {
			return Removed{}, err
		}
		return Removed{Deleted: int64(len(retired))}, cascadeTx(ctx, tx, t, st.Connection, retired)
	case t.Directory:
		n, err := removeUsersTx(ctx, tx, t, st.Connection, clean)
		return Removed{Deleted: n}, err
	}
	b := newArgs(st.Connection, clean)
	sql := "UPDATE " + t.Name + " SET deleted_at = now(), synced_at = now() WHERE connection_id = $1 AND id = ANY($2) AND deleted_at IS NULL"
	if t.Container != "" {
		sql += " AND " + containerCond(t, st, b)
	}
	// The cascades follow the rows retired, not the ids asked for: an item
	// removed from one container may live on in another.
	retired, err := queryIDs(ctx, tx, sql+" RETURNING id", b.args...)
	if err != nil {
		return Removed{}, fmt.Errorf("remove %s: %w", t.Name, err)
	}
	if err := cascadeTx(ctx, tx, t, st.Connection, retired); err != nil {
		return Removed{}, err
	}
	return Removed{Deleted: int64(len(retired))}, nil
}

// RetireUnseenTx retires the rows of stream st that a full enumeration
// begun at since did not see: the stream's container's rows, or its user's
// (the whole tenant's for user discovery and tenant-level tables).
func (s *Store) RetireUnseenTx(ctx context.Context, tx Tx, t *graphsync.Table, st graphsync.Stream, since time.Time, w graphsync.Window) (Removed, error) {
	switch {
	case t.Window:
		return retireWindowTx(ctx, tx, t, st.Connection, w, "user_id = $4 AND (seen_at IS NULL OR seen_at < $5)", CleanText(st.User), since)
	case t.Tree:
		retired, err := retireUnseenTreeTx(ctx, tx, t, st.Connection, st.User, since)
		if err != nil {
			return Removed{}, err
		}
		return Removed{Deleted: int64(len(retired))}, cascadeTx(ctx, tx, t, st.Connection, retired)
	}
	b := newArgs(st.Connection, since)
	where := " WHERE connection_id = $1 AND deleted_at IS NULL AND (seen_at IS NULL OR seen_at < $2)"
	switch {
	case t.Container != "":
		where += " AND " + containerCond(t, st, b)
	case !t.Directory && !t.Tenant:
		where += " AND " + t.UserColumn() + " = " + b.add(CleanText(st.User))
	}
	sql := "SELECT id FROM " + t.Name + where
	if !t.Directory {
		// The rows retired are the rows selected, by the same conditions:
		// a table keyed by user as well as id (people) holds other users'
		// rows with the same ids.
		sql = "UPDATE " + t.Name + " SET deleted_at = now(), synced_at = now()" + where + " RETURNING id"
	}
	ids, err := queryIDs(ctx, tx, sql, b.args...)
	if err != nil {
		return Removed{}, fmt.Errorf("retire unseen %s: %w", t.Name, err)
	}
	if t.Directory {
		n, err := removeUsersTx(ctx, tx, t, st.Connection, ids)
		return Removed{Deleted: n}, err
	}
	if len(ids) == 0 {
		return Removed{}, nil
	}
	if err := cascadeTx(ctx, tx, t, st.Connection, ids); err != nil {
		return Removed{}, err
	}
	return Removed{Deleted: int64(len(ids))}, nil
}

// RetireMissingTx retires the live rows of a user that are not in keep (a
// list read whole, such as the user's chats), with their cascades, and
// returns the ids it retired.
func (s *Store) RetireMissingTx(ctx context.Context, tx Tx, t *graphsync.Table, conn int64, user string, keep []string) ([]string, error) {
	ids, err := queryIDs(ctx, tx, "UPDATE "+t.Name+" SET deleted_at = now(), synced_at = now()"+
		" WHERE connection_id = $1 AND "+t.UserColumn()+" = $2 AND deleted_at IS NULL AND NOT id = ANY($3) RETURNING id",
		conn, CleanText(user), nonNil(cleanAll(keep)))
	if err != nil {
		return nil, fmt.Errorf("retire %s no longer listed: %w", t.Name, err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	return ids, cascadeTx(ctx, tx, t, conn, ids)
}

// cascadeTx retires the rows of t's cascades belonging to ids, and theirs
// in turn (a deleted folder's messages' attachments).
func cascadeTx(ctx context.Context, tx Tx, t *graphsync.Table, conn int64, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	for _, c := range t.Cascades {
		sql := "UPDATE " + c.Table.Name + " SET deleted_at = now(), synced_at = now()" +
			" WHERE connection_id = $1 AND " + c.Column + " = ANY($2) AND deleted_at IS NULL"
		if len(c.Table.Cascades) == 0 {
			if _, err := tx.Exec(ctx, sql, conn, ids); err != nil {
				return fmt.Errorf("retire %s of retired %s: %w", c.Table.Name, t.Name, err)
			}
			continue
		}
		retired, err := queryIDs(ctx, tx, sql+" RETURNING id", conn, ids)
		if err != nil {
			return fmt.Errorf("retire %s of retired %s: %w", c.Table.Name, t.Name, err)
		}
		if err := cascadeTx(ctx, tx, c.Table, conn, retired); err != nil {
			return err
		}
	}
	return nil
}

// containerCond is the condition that a row is in st's container. With
// DefaultIn, container "" holds the user's rows in no listed container (the
// default Contacts folder, which Graph does not list).
func containerCond(t *graphsync.Table, st graphsync.Stream, b *args) string {
	c := b.add(textOrNil(st.Container))
	if t.DefaultIn == nil {
		return t.Container + " IS NOT DISTINCT FROM " + c
	}
	u := b.add(CleanText(st.User))
	return t.UserColumn() + " = " + u + " AND CASE WHEN " + c + "::text IS NULL THEN " + t.Container + " IS NULL OR NOT " +
		t.Container + " = ANY(SELECT f.id FROM " + t.DefaultIn.Name + " f WHERE f.connection_id = $1 AND f." +
		t.DefaultIn.UserColumn() + " = " + u + " AND f.deleted_at IS NULL) ELSE " + t.Container + " = " + c + " END"
}

// RawsTx returns the stored raw JSON of rows by id, so partial delta
// updates can be merged into what is known.
func (s *Store) RawsTx(ctx context.Context, tx Tx, t *graphsync.Table, conn int64, ids []string) (map[string][]byte, error) {
	out := make(map[string][]byte, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := tx.Query(ctx, "SELECT id, raw FROM "+t.Name+" WHERE connection_id = $1 AND id = ANY($2)", conn, cleanAll(ids))
	if err != nil {
		return nil, fmt.Errorf("read stored %s: %w", t.Name, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var raw []byte
		if err := rows.Scan(&id, &raw); err != nil {
			return nil, fmt.Errorf("read stored %s: %w", t.Name, err)
		}
		out[id] = raw
	}
	return out, rows.Err()
}

// LiveIDs returns the ids of a user's live rows of t (every user's for user
// discovery), largest first when t counts its items (Table.Size), then in
// id order: the live folders whose streams to sync.
func (s *Store) LiveIDs(ctx context.Context, t *graphsync.Table, conn int64, user string) ([]string, error) {
	sql := "SELECT id FROM " + t.Name + " WHERE connection_id = $1 AND deleted_at IS NULL"
	args := []any{conn}
	if !t.Directory {
		sql += " AND " + t.UserColumn() + " = $2"
		args = append(args, user)
	}
	order := " ORDER BY id"
	if t.Size != "" {
		order = " ORDER BY " + t.Size + " DESC NULLS LAST, id"
	}
	rows, err := s.pool.Query(ctx, sql+order, args...)
	if err != nil {
		return nil, fmt.Errorf("list live %s: %w", t.Name, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list live %s: %w", t.Name, err)
	}
	return ids, nil
}

// IsLive reports whether a row of t is stored and not retired.
func (s *Store) IsLive(ctx context.Context, t *graphsync.Table, conn int64, id string) (bool, error) {
	var live bool
	err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM "+t.Name+" WHERE connection_id = $1 AND id = $2 AND deleted_at IS NULL)",
		conn, id).Scan(&live)
	if err != nil {
		return false, fmt.Errorf("look up %s %s of connection %d: %w", t.Item, id, conn, err)
	}
	return live, nil
}

// LatestModifiedTx returns the latest last_modified_at stored in stream
// st's container (zero when none): every stored item was read from Graph,
// so Graph has nothing older that graphsync has not seen once a listing
// down to it is complete.
func (s *Store) LatestModifiedTx(ctx context.Context, tx Tx, t *graphsync.Table, st graphsync.Stream) (time.Time, error) {
	var at *time.Time
	err := tx.QueryRow(ctx, "SELECT max(last_modified_at) FROM "+t.Name+" WHERE connection_id = $1 AND "+t.Container+" = $2",
		st.Connection, CleanText(st.Container)).Scan(&at)
	if err != nil {
		return time.Time{}, fmt.Errorf("read watermark of %s: %w", st, err)
	}
	if at == nil {
		return time.Time{}, nil
	}
	return *at, nil
}

// args builds a statement's argument list.
type args struct{ args []any }

func newArgs(a ...any) *args { return &args{args: a} }

// add appends v and returns its placeholder.
func (b *args) add(v any) string {
	b.args = append(b.args, v)
	return "$" + strconv.Itoa(len(b.args))
}

// Helpers turning optional values into what pgx stores as NULL.

func textOrNil(s string) *string {
	if s == "" {
		return nil
	}
	c := CleanText(s)
	return &c
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func cleanAll(ss []string) []string {
	if ss == nil {
		return nil
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = CleanText(s)
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
