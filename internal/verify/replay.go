package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/graphsync/graphsync/changes"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

// Replayed is the outcome of Replay.
type Replayed struct {
	// Changes is how many changes the feed held.
	Changes int
	Tables  []ReplayedTable
}

// ReplayedTable compares one synced table with its copy rebuilt from the
// feed.
type ReplayedTable struct {
	Table string
	// Changes read for the table; Rows in the table.
	Changes, Rows int
	// Missing are rows of the table the copy lacks or holds otherwise;
	// Extra, rows of the copy the table lacks.
	Missing, Extra int
}

// Equal reports whether every copy equals its table.
func (r Replayed) Equal() bool {
	for _, t := range r.Tables {
		if t.Missing > 0 || t.Extra > 0 {
			return false
		}
	}
	return true
}

// Diffs lists the tables whose copy differs.
func (r Replayed) Diffs() []string {
	var out []string
	for _, t := range r.Tables {
		if t.Missing > 0 || t.Extra > 0 {
			out = append(out, fmt.Sprintf("%s: %d rows missing or different in the copy, %d extra", t.Table, t.Missing, t.Extra))
		}
	}
	return out
}

// Replay reads the whole change feed from its start, as an app would,
// applies every change to empty copies of the synced tables (temporary
// tables with the columns a change's data holds), and compares each copy
// with its table: live rows and deletions, every column but raw and
// seen_at. A connection's deleted event drops its rows from the copies.
func Replay(ctx context.Context, pool *pgxpool.Pool) (Replayed, error) {
	var out Replayed
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return out, err
	}
	defer conn.Release()
	type tracked struct {
		keys, columns []string
		changes       int
	}
	tables := map[string]*tracked{}
	var names []string
	rows, err := conn.Query(ctx, "SELECT table_name, key_columns, columns FROM change_tables ORDER BY table_name")
	if err != nil {
		return out, fmt.Errorf("replay: %w", err)
	}
	for rows.Next() {
		var name string
		t := &tracked{}
		if err := rows.Scan(&name, &t.keys, &t.columns); err != nil {
			return out, fmt.Errorf("replay: %w", err)
		}
		tables[name] = t
		names = append(names, name)
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("replay: %w", err)
	}
	for _, name := range names {
		t := tables[name]
		if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE TEMP TABLE %s AS SELECT %s FROM %s WITH NO DATA",
			copyOf(name), strings.Join(quoted(t.columns), ", "), pgx.Identifier{name}.Sanitize())); err != nil {
			return out, fmt.Errorf("replay: copy of %s: %w", name, err)
		}
		if _, err := conn.Exec(ctx, fmt.Sprintf("ALTER TABLE %s ADD PRIMARY KEY (connection_id, %s)",
			copyOf(name), strings.Join(quoted(t.keys), ", "))); err != nil {
			return out, fmt.Errorf("replay: copy of %s: %w", name, err)
		}
	}
	defer func() {
		for _, name := range names {
			_, _ = conn.Exec(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+copyOf(name))
		}
	}()

	keys := map[string][]string{}
	for name, t := range tables {
		keys[name] = t.keys
	}
	feed := changes.NewFeed(store.New(pool, nil))
	var after graphsync.Cursor
	for {
		p, err := feed.Read(ctx, after, changes.Filter{}, 2000)
		if err != nil {
			return out, fmt.Errorf("replay: %w", err)
		}
		for _, c := range p.Changes {
			if t := tables[c.Table]; t != nil {
				t.changes++
			}
		}
		if err := apply(ctx, conn, keys, p.Changes); err != nil {
			return out, err
		}
		out.Changes += len(p.Changes)
		after = p.Next
		if !p.More {
			break
		}
	}

	for _, name := range names {
		t := tables[name]
		cols := strings.Join(quoted(t.columns), ", ")
		r := ReplayedTable{Table: name, Changes: t.changes}
		err := conn.QueryRow(ctx, fmt.Sprintf(`SELECT (SELECT count(*) FROM %[1]s),
			(SELECT count(*) FROM (SELECT %[3]s FROM %[1]s EXCEPT ALL SELECT %[3]s FROM %[2]s) x),
			(SELECT count(*) FROM (SELECT %[3]s FROM %[2]s EXCEPT ALL SELECT %[3]s FROM %[1]s) x)`,
			pgx.Identifier{name}.Sanitize(), copyOf(name), cols)).Scan(&r.Rows, &r.Missing, &r.Extra)
		if err != nil {
			return out, fmt.Errorf("replay: compare %s: %w", name, err)
		}
		out.Tables = append(out.Tables, r)
	}
	return out, nil
}

// apply writes one page of changes to the copies: per table, each row's
// last change in the page wins, as it would one by one.
func apply(ctx context.Context, conn *pgxpool.Conn, keys map[string][]string, cs []graphsync.Change) error {
	type last struct {
		gone bool
		data json.RawMessage
	}
	byTable := map[string]map[string]last{}
	var order []string
	var dropped []int64
	for _, c := range cs {
		if c.Table == graphsync.ConnectionsTable {
			if c.Op == graphsync.Deleted {
				dropped = append(dropped, c.Connection)
			}
			continue
		}
		if byTable[c.Table] == nil {
			byTable[c.Table] = map[string]last{}
			order = append(order, c.Table)
		}
		k := fmt.Sprintf("%d/%s", c.Connection, c.Key)
		// A removed child row leaves the copy; a retired row stays, as
		// its table keeps it, with deleted_at set.
		byTable[c.Table][k] = last{gone: c.Op == graphsync.Deleted && !hasDeletedAt(c.Data), data: c.Data}
	}
	for _, name := range order {
		var upserts, deletes []json.RawMessage
		for _, l := range byTable[name] {
			if l.gone {
				deletes = append(deletes, l.data)
			} else {
				upserts = append(upserts, l.data)
			}
		}
		key := append([]string{"connection_id"}, keys[name]...)
		match := make([]string, len(key))
		for i, k := range key {
			match[i] = fmt.Sprintf("c.%[1]s = r.%[1]s", pgx.Identifier{k}.Sanitize())
		}
		if len(deletes) > 0 {
			if _, err := conn.Exec(ctx, fmt.Sprintf("DELETE FROM %[1]s c USING jsonb_populate_recordset(NULL::%[1]s, $1) r WHERE %[2]s",
				copyOf(name), strings.Join(match, " AND ")), jsonArray(deletes)); err != nil {
				return fmt.Errorf("replay: delete from %s: %w", name, err)
			}
		}
		if len(upserts) > 0 {
			if _, err := conn.Exec(ctx, fmt.Sprintf("DELETE FROM %[1]s c USING jsonb_populate_recordset(NULL::%[1]s, $1) r WHERE %[2]s",
				copyOf(name), strings.Join(match, " AND ")), jsonArray(upserts)); err != nil {
				return fmt.Errorf("replay: write %s: %w", name, err)
			}
			if _, err := conn.Exec(ctx, fmt.Sprintf("INSERT INTO %[1]s SELECT * FROM jsonb_populate_recordset(NULL::%[1]s, $1)", copyOf(name)),
				jsonArray(upserts)); err != nil {
				return fmt.Errorf("replay: write %s: %w", name, err)
			}
		}
	}
	for _, id := range dropped {
		for name := range keys {
			if _, err := conn.Exec(ctx, "DELETE FROM "+copyOf(name)+" WHERE connection_id = $1", id); err != nil {
				return fmt.Errorf("replay: drop connection %d from %s: %w", id, name, err)
			}
		}
	}
	return nil
}

func hasDeletedAt(data json.RawMessage) bool {
	var m map[string]json.RawMessage
	_ = json.Unmarshal(data, &m)
	_, ok := m["deleted_at"]
	return ok
}

func jsonArray(items []json.RawMessage) string {
	b, _ := json.Marshal(items)
	return string(b)
}

func copyOf(table string) string { return pgx.Identifier{"replayed_" + table}.Sanitize() }

func quoted(names []string) []string {
	out := slices.Clone(names)
	for i, n := range out {
		out[i] = pgx.Identifier{n}.Sanitize()
	}
	return out
}
