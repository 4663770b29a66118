package bench

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graphsync"
)

// storage measures what mail_messages' storage choices cost on COPY: the
// raw column as json (shipped) or jsonb, TOAST compressed with lz4
// (shipped) or pglz (PostgreSQL's default), each secondary index, and the
// typed columns (against only the id and raw JSON). Each variant is a copy
// of the table's definition, without the change feed's triggers, COPYing
// the same rows as one stream per mailbox at once.
func storage(ctx context.Context, o *Options, rep *Report) error {
	const name = "storage"
	users := o.size(8, 4)
	n := o.size(40_000, 10_000)
	e, err := o.newEnv(ctx, name, tinyOthers(emulator.Config{Users: users, MessagesPerUser: n / users}))
	if err != nil {
		return err
	}
	defer e.close()
	if err := e.connect(ctx, []*graphsync.Resource{graphsync.Mail}); err != nil {
		return err
	}
	rows, _, _, _, err := e.servedRows(ctx)
	if err != nil {
		return err
	}
	split := byMailbox(rows)

	var indexes []string // secondary indexes' definitions
	irows, err := e.pool.Query(ctx, `SELECT indexdef FROM pg_indexes WHERE tablename = 'mail_messages' AND indexname <> 'mail_messages_pkey' ORDER BY indexname`)
	if err != nil {
		return err
	}
	if indexes, err = pgx.CollectRows(irows, pgx.RowTo[string]); err != nil {
		return err
	}
	type variant struct {
		label   string
		columns []string
		alter   string // applied to the new table before its indexes
		skip    int    // index of indexes left out, -1 for none
	}
	var rawType string // as shipped, json or jsonb; the other is a variant
	if err := e.pool.QueryRow(ctx, `SELECT format_type(atttypid, atttypmod) FROM pg_attribute
		WHERE attrelid = 'mail_messages'::regclass AND attname = 'raw'`).Scan(&rawType); err != nil {
		return err
	}
	other := map[string]string{"json": "jsonb", "jsonb": "json"}[rawType]
	// Changing a column's type resets its compression to the default: set
	// it again, or the variant would measure pglz.
	method, err := e.rawCompression(ctx)
	if err != nil {
		return err
	}
	variants := []variant{
		{label: "as shipped (raw " + rawType + " compressed with " + method + ", every index)", columns: mailColumns, skip: -1},
		{label: "raw as " + other + " instead of " + rawType, columns: mailColumns, alter: "ALTER COLUMN raw TYPE " + other + " USING raw::" + other + ", ALTER COLUMN raw SET COMPRESSION " + method, skip: -1},
		{label: "raw " + rawType + " compressed with pglz (PostgreSQL's default)", columns: mailColumns, alter: "ALTER COLUMN raw SET COMPRESSION pglz", skip: -1},
	}
	for i, def := range indexes {
		variants = append(variants, variant{label: "without index " + indexName(def), columns: mailColumns, skip: i})
	}
	variants = append(variants, variant{label: "id and raw jsonb only (no typed columns, no secondary index)",
		columns: []string{"connection_id", "id", "raw"}, skip: len(indexes)})
	rawCol := slices.Index(mailColumns, "raw")
	var shippedRate float64
	var shippedSize int64
	for vi, v := range variants {
		table := fmt.Sprintf("bench_storage_%d", vi)
		var stmts []string
		if len(v.columns) == len(mailColumns) {
			stmts = []string{"CREATE TABLE " + table + " (LIKE mail_messages INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING COMPRESSION)",
				"ALTER TABLE " + table + " ADD PRIMARY KEY (connection_id, id)"}
		} else if err := e.createRawTable(ctx, table); err != nil {
			return err
		}
		if v.alter != "" {
			stmts = append(stmts, "ALTER TABLE "+table+" "+v.alter)
		}
		if len(v.columns) == len(mailColumns) {
			for i, def := range indexes {
				if i != v.skip {
					stmts = append(stmts, retarget(def, table))
				}
			}
		}
		for _, sql := range stmts {
			if _, err := e.pool.Exec(ctx, sql); err != nil {
				return fmt.Errorf("storage variant %q: %s: %w", v.label, sql, err)
			}
		}
		parts := split
		if len(v.columns) != len(mailColumns) {
			parts = make([][][]any, len(split))
			for i, part := range split {
				for _, r := range part {
					parts[i] = append(parts[i], []any{r[0], r[1], r[rawCol]})
				}
			}
		}
		dur, size, err := e.copySized(ctx, table, v.columns, parts)
		if err != nil {
			return fmt.Errorf("storage variant %q: %w", v.label, err)
		}
		if _, err := e.pool.Exec(ctx, "DROP TABLE "+table); err != nil {
			return err
		}
		rate := float64(len(rows)) / dur.Seconds()
		if vi == 0 {
			shippedRate, shippedSize = rate, size
			rep.add(name, fmt.Sprintf("COPY of %s messages into mail_messages as shipped (%d streams), records/s; on disk per message", count(len(rows)), len(split)),
				fmt.Sprintf("%s; %s", perSec(rate), perMessage(size, len(rows))), "", nil)
			continue
		}
		rep.add(name, v.label+": records/s and size on disk against as shipped",
			fmt.Sprintf("%+.0f%%; %+.0f%% (%s)", (rate/shippedRate-1)*100, (float64(size)/float64(shippedSize)-1)*100, perMessage(size, len(rows))), "", nil)
	}
	return nil
}

// byMailbox splits COPY rows by their connection, first column.
func byMailbox(rows [][]any) [][][]any {
	parts := map[any][][]any{}
	var order []any
	for _, r := range rows {
		if _, ok := parts[r[0]]; !ok {
			order = append(order, r[0])
		}
		parts[r[0]] = append(parts[r[0]], r)
	}
	split := make([][][]any, len(order))
	for i, k := range order {
		split[i] = parts[k]
	}
	return split
}

// indexName is the name in a CREATE INDEX definition.
func indexName(def string) string {
	f := strings.Fields(def)
	for i, w := range f {
		if w == "INDEX" && i+1 < len(f) {
			return f[i+1]
		}
	}
	return def
}

// retarget makes an index definition of mail_messages one of table.
func retarget(def, table string) string {
	def = strings.Replace(def, "INDEX "+indexName(def), "INDEX "+table+"_"+indexName(def), 1)
	return strings.Replace(def, " ON public.mail_messages ", " ON public."+table+" ", 1)
}

func perMessage(size int64, n int) string {
	return fmt.Sprintf("%.1f KB per message", float64(size)/float64(n)/1024)
}
