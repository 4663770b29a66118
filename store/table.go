package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// table describes a synced table for the generic writer: every synced table
// has connection_id and id first, raw and seen_at among its columns.
type table struct {
	name    string
	columns []string // written columns; connection_id and id come first
}

// syncedTables holds every table declared with syncedTable; only those may
// be named by callers (Raws), as table names cannot be bound parameters.
var syncedTables = map[string]table{}

// syncedTable declares a synced table and its written columns, connection_id
// and id first.
func syncedTable(name string, columns ...string) table {
	if len(columns) < 2 || columns[0] != "connection_id" || columns[1] != "id" {
		panic("store: synced table " + name + " must write connection_id and id first")
	}
	t := table{name: name, columns: columns}
	syncedTables[name] = t
	return t
}

// copyThreshold is the batch size from which rows go through COPY into a
// staging table instead of a multi-row INSERT: COPY wins on large pages,
// the extra statements lose on small ones.
const copyThreshold = 64

// upsertTx writes rows (each in t.columns order) and returns how many rows
// changed. A row whose raw JSON is unchanged, that is live and that no full
// enumeration is marking (seen_at NULL) is left alone, so idle syncs write
// nothing. Rows repeating an id keep the last one, as a later delta entry
// supersedes an earlier one.
func upsertTx(ctx context.Context, tx pgx.Tx, t table, rows [][]any) (int64, error) {
	rows = dedupeByID(rows)
	if len(rows) == 0 {
		return 0, nil
	}
	cols := strings.Join(t.columns, ", ")
	var sets []string
	for _, c := range t.columns[2:] {
		if c == "seen_at" {
			continue
		}
		sets = append(sets, c+" = EXCLUDED."+c)
	}
	conflict := fmt.Sprintf(` ON CONFLICT (connection_id, id) DO UPDATE SET %s, deleted_at = NULL, synced_at = now(),
		seen_at = coalesce(EXCLUDED.seen_at, %[2]s.seen_at)
		WHERE %[2]s.raw IS DISTINCT FROM EXCLUDED.raw OR %[2]s.deleted_at IS NOT NULL OR EXCLUDED.seen_at IS NOT NULL`,
		strings.Join(sets, ", "), t.name)

	if len(rows) < copyThreshold {
		var sb strings.Builder
		args := make([]any, 0, len(rows)*len(t.columns))
		sb.WriteString("INSERT INTO " + t.name + " (" + cols + ") VALUES ")
		for i, r := range rows {
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
		sb.WriteString(conflict)
		tag, err := tx.Exec(ctx, sb.String(), args...)
		if err != nil {
			return 0, fmt.Errorf("upsert %s: %w", t.name, err)
		}
		return tag.RowsAffected(), nil
	}

	// A page of rows none of which is stored yet (an initial sync) goes
	// straight into the table: the conflict handling below would find
	// nothing to do and cost as much again as the COPY. Should another
	// transaction store one of them in between (a chat shared by two users
	// of a tenant), the savepoint is rolled back and the rows merged below.
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i], _ = r[1].(string)
	}
	var stored bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM "+t.name+" WHERE connection_id = $1 AND id = ANY($2))", rows[0][0], ids).Scan(&stored); err != nil {
		return 0, fmt.Errorf("upsert %s: %w", t.name, err)
	}
	if !stored {
		n, err := copyNewTx(ctx, tx, t, rows)
		var pgErr *pgconn.PgError
		switch {
		case err == nil:
			return n, nil
		case !errors.As(err, &pgErr) || pgErr.Code != pgerrcode.UniqueViolation:
			return 0, fmt.Errorf("upsert %s: copy: %w", t.name, err)
		}
	}

	stage := "stage_" + t.name
	if _, err := tx.Exec(ctx, "CREATE TEMP TABLE IF NOT EXISTS "+stage+" (LIKE "+t.name+" INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"); err != nil {
		return 0, fmt.Errorf("upsert %s: create staging table: %w", t.name, err)
	}
	// A staging table left with rows by an earlier failed statement in this
	// transaction would be reused; start it empty.
	if _, err := tx.Exec(ctx, "TRUNCATE "+stage); err != nil {
		return 0, fmt.Errorf("upsert %s: %w", t.name, err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{stage}, t.columns, pgx.CopyFromRows(rows)); err != nil {
		return 0, fmt.Errorf("upsert %s: copy: %w", t.name, err)
	}
	tag, err := tx.Exec(ctx, "INSERT INTO "+t.name+" AS "+t.name+" ("+cols+") SELECT "+cols+" FROM "+stage+conflict)
	if err != nil {
		return 0, fmt.Errorf("upsert %s: %w", t.name, err)
	}
	return tag.RowsAffected(), nil
}

// copyNewTx COPYs rows into t within a savepoint.
func copyNewTx(ctx context.Context, tx pgx.Tx, t table, rows [][]any) (int64, error) {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return 0, err
	}
	n, err := sp.CopyFrom(ctx, pgx.Identifier{t.name}, t.columns, pgx.CopyFromRows(rows))
	if err != nil {
		_ = sp.Rollback(ctx)
		return 0, err
	}
	return n, sp.Commit(ctx)
}

func dedupeByID(rows [][]any) [][]any {
	if len(rows) < 2 {
		return rows
	}
	last := make(map[any]int, len(rows))
	for i, r := range rows {
		last[r[1]] = i
	}
	if len(last) == len(rows) {
		return rows
	}
	out := make([][]any, 0, len(last))
	for i, r := range rows {
		if last[r[1]] == i {
			out = append(out, r)
		}
	}
	return out
}

// softDeleteTx marks rows deleted; extra is an optional SQL condition on
// further arguments (for example, that a message is still in the folder that
// reported it removed).
func softDeleteTx(ctx context.Context, q Querier, tableName string, connectionID int64, ids []string, extra string, args ...any) (int64, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	clean := make([]string, len(ids))
	for i, id := range ids {
		clean[i] = CleanText(id)
	}
	sql := "UPDATE " + tableName + " SET deleted_at = now(), synced_at = now() WHERE connection_id = $1 AND id = ANY($2) AND deleted_at IS NULL"
	if extra != "" {
		sql += " AND " + extra
	}
	tag, err := q.Exec(ctx, sql, append([]any{connectionID, clean}, args...)...)
	if err != nil {
		return 0, fmt.Errorf("soft-delete %s: %w", tableName, err)
	}
	return tag.RowsAffected(), nil
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
