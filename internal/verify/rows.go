package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

// rowCheck checks one table beyond its ids: every column of every stored row
// against the table's mapping of the truth object (its raw JSON against
// every field the truth has), the same item never live twice, and items
// deleted in Microsoft 365 after they were synced kept with deleted_at set.
type rowCheck struct {
	table *graphsync.Table
	// scope selects the rows compared ($1 the connection, $2 the user);
	// default: the user's live rows.
	scope string
	// ignore lists columns not compared (a shared row's user_id names
	// whichever member stored it first).
	ignore []string
	// extra lists raw members the truth leaves out (an item attachment's
	// expanded item).
	extra []string
	// natural names one item by what it holds rather than its id; the
	// live rows per value may not outnumber the truth's.
	natural []string
	// context is the mapping context of the i-th truth object.
	context func(i int, raw json.RawMessage) graphsync.MapContext
}

// check compares the rows in scope with truth and returns the differences.
func (c rowCheck) check(ctx context.Context, pool *pgxpool.Pool, connectionID int64, userID string, truth []json.RawMessage) ([]string, error) {
	t := c.table
	cols := make([]string, len(t.Columns))
	for i, col := range t.Columns {
		cols[i] = col.Name
	}
	keyAt := make([]int, 0, len(t.KeyColumns()))
	for _, k := range t.KeyColumns() {
		keyAt = append(keyAt, slices.Index(cols, k))
	}
	naturalAt := make([]int, 0, len(c.natural))
	for _, n := range c.natural {
		naturalAt = append(naturalAt, slices.Index(cols, n))
	}

	want := map[string][]string{}
	truthItems := map[string]int{}
	for i, raw := range truth {
		mc := graphsync.MapContext{User: userID}
		if c.context != nil {
			mc = c.context(i, raw)
		}
		row, err := t.Map(store.CleanJSON(raw), mc)
		if err != nil {
			continue // quarantined, not stored
		}
		vals := make([]string, len(row.Values))
		for j, v := range row.Values {
			vals[j] = render(t.Columns[j].Type, v)
		}
		want[pick(vals, keyAt)] = vals
		truthItems[pick(vals, naturalAt)]++
	}

	scope := c.scope
	if scope == "" {
		scope = pgx.Identifier{t.UserColumn()}.Sanitize() + " = $2 AND deleted_at IS NULL"
	}
	quoted := make([]string, len(cols))
	for i, col := range cols {
		quoted[i] = pgx.Identifier{col}.Sanitize()
		if t.Columns[i].Type == graphsync.JSON {
			// As text: decoding jsonb into maps only to encode it again
			// would double the comparison's cost.
			quoted[i] += "::text"
		}
	}
	rs, err := pool.Query(ctx, fmt.Sprintf(`SELECT %s, deleted_at IS NULL FROM %s WHERE connection_id = $1 AND %s`,
		strings.Join(quoted, ", "), pgx.Identifier{t.Name}.Sanitize(), scope), connectionID, userID)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", t.Name, err)
	}
	defer rs.Close()
	var diffs []string
	storedItems := map[string]int{}
	for rs.Next() {
		vs, err := rs.Values()
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", t.Name, err)
		}
		got := make([]string, len(cols))
		for j := range cols {
			got[j] = renderStored(t.Columns[j].Type, vs[j])
		}
		if live, _ := vs[len(cols)].(bool); live {
			storedItems[pick(got, naturalAt)]++
		}
		key := pick(got, keyAt)
		exp, ok := want[key]
		if !ok {
			continue // missing or extra: the ids' comparison says so
		}
		for j, col := range cols {
			if slices.Contains(c.ignore, col) {
				continue
			}
			if d := differs(col, t.Columns[j].Type, got[j], exp[j], c.extra); d != "" {
				diffs = append(diffs, fmt.Sprintf("%s: %s", key, d))
			}
		}
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", t.Name, err)
	}
	if len(naturalAt) > 0 {
		for k, n := range storedItems {
			if n > truthItems[k] {
				diffs = append(diffs, fmt.Sprintf("duplicate: %d live rows hold the item %s=%s, Microsoft 365 has %d",
					n, strings.Join(c.natural, ","), short(k), truthItems[k]))
			}
		}
	}
	return diffs, nil
}

// pick joins the values at the given positions.
func pick(vals []string, at []int) string {
	parts := make([]string, len(at))
	for i, j := range at {
		parts[i] = vals[j]
	}
	return strings.Join(parts, "|")
}

const null = "NULL"

// render writes a mapped value as the store keeps it: text cleaned, empty
// optional values NULL, times to the microsecond, JSON cleaned for jsonb
// (differs compares JSON by value).
func render(ct graphsync.ColumnType, v any) string {
	switch ct {
	case graphsync.Key:
		s, _ := v.(string)
		return store.CleanText(s)
	case graphsync.Text:
		if s, _ := v.(string); s != "" {
			return store.CleanText(s)
		}
		return null
	case graphsync.Texts:
		ss, _ := v.([]string)
		if ss == nil {
			return null
		}
		out := make([]string, len(ss))
		for i, s := range ss {
			out[i] = store.CleanText(s)
		}
		return texts(out)
	case graphsync.Time:
		if t, _ := v.(time.Time); !t.IsZero() {
			return t.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano)
		}
		return null
	case graphsync.JSON:
		b, _ := v.([]byte)
		if r, ok := v.(json.RawMessage); ok {
			b = r
		}
		if len(b) == 0 || string(b) == "null" {
			return null
		}
		return string(store.CleanJSON(b))
	}
	rv := reflect.ValueOf(v)
	for rv.IsValid() && rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return null
		}
		rv = rv.Elem()
	}
	if !rv.IsValid() {
		return null
	}
	return fmt.Sprint(rv.Interface())
}

// renderStored writes a value read from PostgreSQL as render does.
func renderStored(ct graphsync.ColumnType, v any) string {
	if v == nil {
		return null
	}
	switch ct {
	case graphsync.Texts:
		var out []string
		switch x := v.(type) {
		case []string:
			out = x
		case []any:
			for _, s := range x {
				out = append(out, fmt.Sprint(s))
			}
		}
		return texts(out)
	case graphsync.Time:
		if t, ok := v.(time.Time); ok {
			return t.UTC().Format(time.RFC3339Nano)
		}
	}
	return fmt.Sprint(v) // JSON is read as text
}

func texts(ss []string) string {
	b, _ := json.Marshal(ss)
	if len(ss) == 0 {
		return "[]"
	}
	return string(b)
}

// differs says how a stored column differs from the truth's, or "". JSON
// is compared by value; the raw column must hold every field the truth
// has, with the truth's value, and may carry annotations (@odata.etag,
// @odata.type) and the extra members the truth leaves out.
func differs(col string, ct graphsync.ColumnType, got, want string, extra []string) string {
	if got == want {
		return ""
	}
	plain := fmt.Sprintf("%s stored %s, truth %s", col, short(got), short(want))
	var g, w any
	if ct != graphsync.JSON || got == null || want == null ||
		json.Unmarshal([]byte(got), &g) != nil || json.Unmarshal([]byte(want), &w) != nil {
		return plain
	}
	gm, gok := g.(map[string]any)
	wm, wok := w.(map[string]any)
	switch {
	case col == "raw" && gok && wok:
	case reflect.DeepEqual(g, w):
		return ""
	default:
		return plain
	}
	var bad []string
	for k, wv := range wm {
		gv, ok := gm[k]
		switch {
		case !ok:
			bad = append(bad, k+" missing")
		case !reflect.DeepEqual(gv, wv):
			bad = append(bad, k+" differs")
		}
	}
	for k := range gm {
		if _, ok := wm[k]; !ok && !strings.HasPrefix(k, "@") && !slices.Contains(extra, k) {
			bad = append(bad, k+" extra")
		}
	}
	if len(bad) == 0 {
		return ""
	}
	slices.Sort(bad)
	return "raw: " + strings.Join(bad, ", ")
}

func short(s string) string {
	if len(s) > 60 {
		return fmt.Sprintf("%q… (%d bytes)", s[:60], len(s))
	}
	return fmt.Sprintf("%q", s)
}

// DeletedTruth reads the objects of a user's resource that were deleted in
// the emulator after a client completed a round that held them (see
// emulator.DeletedTruth), with immutable ids.
func DeletedTruth(ctx context.Context, emulatorURL, userID, resource string) ([]json.RawMessage, error) {
	return deletedTruth(ctx, emulatorURL, userID, resource, "")
}

// deletedTruth is DeletedTruth as one reader's rounds held it (reader: a
// signed-in user's id, "app" for application tokens, "" for anyone's).
func deletedTruth(ctx context.Context, emulatorURL, userID, resource, reader string) ([]json.RawMessage, error) {
	u := emulatorURL + "/_emulator/truth/" + url.PathEscape(userID) + "/" + resource + "/deleted?idType=ImmutableId"
	if reader != "" {
		u += "&reader=" + url.QueryEscape(reader)
	}
	return readTruth(ctx, u, "deleted "+resource)
}

// reader is who reads Graph for a connection, as the emulator's deleted
// truth tells readers apart: a mailbox synced by its owner and by a
// delegate is held by each as far as each one's own rounds went.
func reader(ctx context.Context, pool *pgxpool.Pool, connectionID int64) (string, error) {
	var r string
	err := pool.QueryRow(ctx, `SELECT CASE WHEN kind = 'application' THEN 'app' ELSE user_id END FROM connections WHERE id = $1`,
		connectionID).Scan(&r)
	if err != nil {
		return "", fmt.Errorf("read connection %d: %w", connectionID, err)
	}
	return r, nil
}

// deleted checks that the objects deleted in Microsoft 365 after the
// connection synced them kept their rows, with deleted_at set: a soft delete, not a
// hard one. Objects still live elsewhere (a message moved to another
// folder) are the live comparison's; keep, when set, says which deleted
// objects the table should hold (a calendar's window).
func deleted(ctx context.Context, pool *pgxpool.Pool, emulatorURL string, t *graphsync.Table, connectionID int64, userID, resource string,
	live map[string]string, keep func(raw json.RawMessage) bool) ([]string, error) {
	who, err := reader(ctx, pool, connectionID)
	if err != nil {
		return nil, err
	}
	gone, err := deletedTruth(ctx, emulatorURL, userID, resource, who)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, raw := range gone {
		id, ok := graphsync.ID(raw)
		if _, alive := live[id]; !ok || alive || (keep != nil && !keep(raw)) {
			continue
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	rs, err := pool.Query(ctx, fmt.Sprintf(`SELECT id, deleted_at IS NOT NULL FROM %s WHERE connection_id = $1 AND id = ANY($2)`,
		pgx.Identifier{t.Name}.Sanitize()), connectionID, ids)
	if err != nil {
		return nil, fmt.Errorf("read deleted rows of %s: %w", t.Name, err)
	}
	kept := map[string]bool{}
	for rs.Next() {
		var id string
		var soft bool
		if err := rs.Scan(&id, &soft); err != nil {
			rs.Close()
			return nil, fmt.Errorf("read deleted rows of %s: %w", t.Name, err)
		}
		kept[id] = kept[id] || soft
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("read deleted rows of %s: %w", t.Name, err)
	}
	var diffs []string
	for _, id := range ids {
		// A row kept live is the ids' comparison's "extra".
		if _, found := kept[id]; !found {
			diffs = append(diffs, "hard-deleted "+id+": deleted in Microsoft 365 after it was synced, and its row is gone")
		}
	}
	return diffs, nil
}

// readTruth reads a JSON array from the emulator's control plane, one
// element at a time (the emulator streams it), so that only the elements
// are held, never the whole body besides.
func readTruth(ctx context.Context, u, what string) ([]json.RawMessage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("read ground truth of %s: %w", what, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("read ground truth of %s: %s", what, resp.Status)
	}
	dec := json.NewDecoder(resp.Body)
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return nil, fmt.Errorf("read ground truth of %s: not a JSON array (%v)", what, err)
	}
	out := []json.RawMessage{}
	for dec.More() {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("read ground truth of %s: %w", what, err)
		}
		out = append(out, raw)
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("read ground truth of %s: %w", what, err)
	}
	return out, nil
}
