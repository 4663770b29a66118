package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/graphsync/graphsync/graphsync"
)

// baselineSync is the initial sync a team would write without graphsync,
// for comparison: one goroutine per mailbox reading its folders one after
// the other with a plain net/http client that follows nextLinks,
// encoding/json, and one INSERT ... ON CONFLICT per message into
// mail_messages (the same typed columns and raw JSON). It has no change
// feed, so the table's triggers are disabled while it runs. It returns the
// live messages written and how long the sync took, folder lists included.
func (e *env) baselineSync(ctx context.Context) (int, time.Duration, error) {
	rd, err := e.newReader(ctx, 2)
	if err != nil {
		return 0, 0, err
	}
	if err := e.changeFeed(ctx, false); err != nil {
		return 0, 0, err
	}
	insert := upsertSQL("mail_messages", mailColumns, 2)
	t0 := time.Now()
	errs := make([]error, len(e.conns))
	var wg sync.WaitGroup
	for i, c := range e.conns {
		wg.Go(func() {
			folders, err := rd.folderIDs(ctx, c.UserID)
			if err != nil {
				errs[i] = err
				return
			}
			for _, f := range folders {
				err := rd.round(ctx, rd.messagesDelta(c.UserID, f), func(body []byte) error {
					var page struct {
						Value []json.RawMessage `json:"value"`
					}
					if err := json.Unmarshal(body, &page); err != nil {
						return fmt.Errorf("baseline: decode page: %w", err)
					}
					for _, raw := range page.Value {
						var m graphsync.Message
						if err := json.Unmarshal(raw, &m); err != nil {
							return fmt.Errorf("baseline: decode message: %w", err)
						}
						if _, err := e.pool.Exec(ctx, insert, messageRow(c.ID, c.UserID, &m, raw)...); err != nil {
							return fmt.Errorf("baseline: insert message: %w", err)
						}
					}
					return nil
				})
				if err != nil {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	dur := time.Since(t0)
	for _, err := range errs {
		if err != nil {
			return 0, 0, err
		}
	}
	if err := e.changeFeed(ctx, true); err != nil {
		return 0, 0, err
	}
	var n int
	err = e.pool.QueryRow(ctx, "SELECT count(*) FROM mail_messages WHERE deleted_at IS NULL").Scan(&n)
	return n, dur, err
}

// baseline runs baselineSync on mailboxes holding n messages, checks it
// wrote them all, and empties the mail tables again for graphsync.
func (e *env) baseline(ctx context.Context, n int) (time.Duration, error) {
	written, dur, err := e.baselineSync(ctx)
	if err != nil {
		return 0, err
	}
	if written != n {
		return 0, fmt.Errorf("baseline: wrote %d messages, the emulator holds %d", written, n)
	}
	return dur, e.forgetMail(ctx)
}

// upsertSQL is an INSERT of columns into table that updates the row when
// its first key columns already exist.
func upsertSQL(table string, columns []string, key int) string {
	params := make([]string, len(columns))
	var set []string
	for i, c := range columns {
		params[i] = "$" + strconv.Itoa(i+1)
		if i >= key {
			set = append(set, c+" = EXCLUDED."+c)
		}
	}
	return "INSERT INTO " + pgx.Identifier{table}.Sanitize() + " (" + strings.Join(columns, ", ") + ") VALUES (" + strings.Join(params, ", ") +
		") ON CONFLICT (" + strings.Join(columns[:key], ", ") + ") DO UPDATE SET " + strings.Join(set, ", ")
}
