package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/graphsync/graphsync/emulator"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/identity"
	"github.com/graphsync/graphsync/internal/verify"
	"github.com/graphsync/graphsync/store"
)

// mailColumns are mail_messages' written columns, as graphsync writes them.
var mailColumns = []string{"connection_id", "id", "user_id", "folder_id", "subject", "from_address", "from_name", "sender_address",
	"to_addresses", "cc_addresses", "bcc_addresses", "received_at", "sent_at", "created_at", "last_modified_at",
	"is_read", "is_draft", "importance", "has_attachments", "conversation_id", "internet_message_id",
	"body_preview", "body_content_type", "categories", "flag_status", "inference_classification", "web_link",
	"raw", "seen_at"}

// ingest compares graphsync's end-to-end ingest rate with a plain COPY of
// the same rows, and with the emulator serving the same pages to a reader.
func ingest(ctx context.Context, o *Options, rep *Report) error {
	const name = "ingest"
	users := o.size(8, 4)
	if o.IngestMailboxes > 0 {
		users = o.IngestMailboxes
	}
	n := o.IngestMessages
	if n == 0 {
		n = o.size(200_000, 20_000)
	}
	n -= n % users
	e, err := o.newEnv(ctx, name, tinyOthers(emulator.Config{Users: users, MessagesPerUser: n / users}))
	if err != nil {
		return err
	}
	defer e.close()
	if err := e.connect(ctx, []*graphsync.Resource{graphsync.Mail}); err != nil {
		return err
	}

	// The emulator alone, read by as many streams as graphsync uses. The
	// pages it serves are kept: the COPY rows are built from them, so both
	// sides move the same bytes.
	rows, size, emuN, emuDur, err := e.servedRows(ctx)
	if err != nil {
		return err
	}
	if len(rows) != n {
		return fmt.Errorf("the emulator served %d messages, want %d", len(rows), n)
	}
	o.logf("%s: %d messages, %.0f MB of JSON", name, len(rows), float64(size)/1e6)
	// Postgres's limit is the faster of one COPY stream and one per
	// mailbox at once (as many as graphsync writes with): on several cores
	// parallel streams can beat a single one.
	oneDur, parDur, err := e.copyBoth(ctx, "mail_messages", mailColumns, rows)
	if err != nil {
		return err
	}
	copyDur := min(oneDur, parDur)
	// The least PostgreSQL can do with the same bytes: each message's id
	// and raw JSON into a table with only its key.
	if err := e.createRawTable(ctx, "bench_raw"); err != nil {
		return err
	}
	rawCol := slices.Index(mailColumns, "raw")
	raws := make([][]any, len(rows))
	for i, r := range rows {
		raws[i] = []any{r[0], r[1], r[rawCol]}
	}
	rawOne, rawPar, err := e.copyBoth(ctx, "bench_raw", []string{"connection_id", "id", "raw"}, raws)
	if err != nil {
		return err
	}
	rawDur := min(rawOne, rawPar)
	rows, raws = nil, nil

	// The sync a team would write without graphsync, on the same data.
	baseDur, err := e.baseline(ctx, n)
	if err != nil {
		return err
	}

	// The same initial sync twice, on the same data: without the change
	// feed (its triggers disabled), then with it, as shipped.
	if err := e.changeFeed(ctx, false); err != nil {
		return err
	}
	bareDur, _, _, err := e.timedPass(ctx, "", n)
	if err != nil {
		return fmt.Errorf("without the change feed: %w", err)
	}
	if err := e.forgetMail(ctx); err != nil {
		return err
	}
	if err := e.changeFeed(ctx, true); err != nil {
		return err
	}
	dur, cpu, rss, err := e.timedPass(ctx, name, n)
	if err != nil {
		return err
	}
	jobsN := len(e.conns)
	var entries, feedBytes int64
	if err := e.pool.QueryRow(ctx, "SELECT count(*), pg_total_relation_size('changes') FROM changes WHERE table_name = 'mail_messages'").Scan(&entries, &feedBytes); err != nil {
		return err
	}
	if entries != int64(n) {
		return fmt.Errorf("the change feed holds %d message changes for %d messages", entries, n)
	}

	if err := e.verifyMail(ctx); err != nil {
		return err
	}
	copyRate := float64(n) / copyDur.Seconds()
	syncRate := float64(n) / dur.Seconds()
	emuRate := float64(emuN) / emuDur.Seconds()
	ratio := syncRate / copyRate
	rep.add(name, fmt.Sprintf("messages (%.1f KB of JSON each on average)", float64(size)/float64(n)/1024), count(n), "≥ 200,000", ptr(n >= 200_000))
	rep.add(name, "plain COPY into mail_messages, one stream, records/s", perSec(float64(n)/oneDur.Seconds()), "", nil)
	rep.add(name, fmt.Sprintf("plain COPY into mail_messages, one stream per mailbox (%d at once), records/s", users), perSec(float64(n)/parDur.Seconds()), "", nil)
	bareRate := float64(n) / bareDur.Seconds()
	cost := 1 - syncRate/bareRate
	rep.add(name, fmt.Sprintf("graphsync end to end without the change feed (%d mailboxes, pages of %d), records/s", users, o.mailPageSize()), perSec(bareRate), "", nil)
	rep.add(name, fmt.Sprintf("graphsync end to end (%d mailboxes, pages of %d), records/s", users, o.mailPageSize()), perSec(syncRate), "", nil)
	rep.add(name, "change feed's cost on ingest (records/s lost to it)", pct(cost), "< 15%", ptr(cost < 0.15))
	rep.add(name, "change feed on disk per message", fmt.Sprintf("%.0f bytes", float64(feedBytes)/float64(n)), "", nil)
	rep.add(name, "graphsync / the faster COPY", pct(ratio), "≥ 85%", ptr(ratio >= 0.85))
	rep.add(name, "minimal raw COPY (id and raw jsonb, key only), the faster of one stream and one per mailbox, records/s", perSec(float64(n)/rawDur.Seconds()), "", nil)
	rawRatio := syncRate / (float64(n) / rawDur.Seconds())
	rep.add(name, "graphsync / the minimal raw COPY", pct(rawRatio), "≥ 70%", ptr(rawRatio >= 0.7))
	baseRate := float64(n) / baseDur.Seconds()
	rep.add(name, fmt.Sprintf("baseline: goroutine per mailbox, net/http, INSERT per record (%d mailboxes), records/s", users), perSec(baseRate), "", nil)
	rep.add(name, "graphsync / baseline", fmt.Sprintf("%.1f×", syncRate/baseRate), "", nil)
	mb := float64(rss) / (1 << 20)
	rep.add(name, fmt.Sprintf("worker peak RSS (VmHWM), %d mailboxes at once", users), fmt.Sprintf("%.0f MB", mb), "< 300 MB", ptr(mb < 300))
	rep.add(name, "emulator alone (4 readers per mailbox, no decoding), records/s", perSec(emuRate), "", nil)
	rep.add(name, "graphsync / emulator alone", pct(syncRate/emuRate), "< 100% (emulator not the bottleneck)", ptr(syncRate/emuRate < 1))
	rep.add(name, "worker CPU per 1,000 records", fmt.Sprintf("%.0f ms", cpu.Seconds()*1000/float64(n)*1000), "", nil)
	rep.add(name, "sync jobs", count(jobsN), "", nil)
	return nil
}

// ingestLatency runs the same initial sync, graphsync's and the baseline's,
// on an emulator that answers every request after 100–300 ms, as Graph
// does: what graphsync gains by keeping requests in flight while it writes.
func ingestLatency(ctx context.Context, o *Options, rep *Report) error {
	const name = "ingest-latency"
	users := o.size(8, 4)
	per := o.size(10_000, 2_500)
	cfg := tinyOthers(emulator.Config{Users: users, MessagesPerUser: per})
	cfg.Latency = emulator.Latency{Min: 100 * time.Millisecond, Max: 300 * time.Millisecond}
	e, err := o.newEnv(ctx, name, cfg)
	if err != nil {
		return err
	}
	defer e.close()
	if err := e.connect(ctx, []*graphsync.Resource{graphsync.Mail}); err != nil {
		return err
	}
	n := users * per
	baseDur, err := e.baseline(ctx, n)
	if err != nil {
		return err
	}
	dur, _, rss, err := e.timedPass(ctx, name, n)
	if err != nil {
		return err
	}
	if err := e.verifyMail(ctx); err != nil {
		return err
	}
	syncRate, baseRate := float64(n)/dur.Seconds(), float64(n)/baseDur.Seconds()
	rep.add(name, fmt.Sprintf("messages, %d mailboxes, 100–300 ms per request", users), count(n), "", nil)
	rep.add(name, fmt.Sprintf("baseline: goroutine per mailbox, net/http, INSERT per record (pages of %d), records/s", o.mailPageSize()), perSec(baseRate), "", nil)
	rep.add(name, fmt.Sprintf("graphsync end to end (pages of %d), records/s", o.mailPageSize()), perSec(syncRate), "", nil)
	rep.add(name, "graphsync / baseline", fmt.Sprintf("%.1f×", syncRate/baseRate), "≥ 3×", ptr(syncRate/baseRate >= 3))
	rep.add(name, "worker peak RSS (VmHWM)", fmt.Sprintf("%.0f MB", float64(rss)/(1<<20)), "", nil)
	return nil
}

// timedPass syncs every connection on a worker process of its own (tag
// names its profiles) until every message is stored, and returns them, the
// wall time, the worker's CPU and its peak RSS. The attachment lists that
// about a quarter of the messages queue are left out, as the baseline reads
// none: Outlook's per-mailbox pace makes them minutes of their own (the
// attachments scenario measures them). The worker is stopped and its
// unfinished jobs removed, so the next pass starts clean.
func (e *env) timedPass(ctx context.Context, tag string, n int) (time.Duration, time.Duration, int64, error) {
	w, err := e.startWorker(ctx, tag, nil)
	if err != nil {
		return 0, 0, 0, err
	}
	cpu0, _ := w.cpu()
	dur, err := e.untilStored(ctx, n, 30*time.Minute)
	cpu1, _ := w.cpu()
	rss, rerr := w.peakRSS()
	w.stop()
	if err = errors.Join(err, rerr); err != nil {
		return 0, 0, 0, err
	}
	if _, err := e.pool.Exec(ctx, "DELETE FROM river_job"); err != nil {
		return 0, 0, 0, err
	}
	return dur, cpu1 - cpu0, rss, nil
}

// createRawTable creates a table of messages' ids and raw JSON only, the
// raw column compressed as mail_messages' is.
func (e *env) createRawTable(ctx context.Context, table string) error {
	method, err := e.rawCompression(ctx)
	if err != nil {
		return err
	}
	_, err = e.pool.Exec(ctx, "CREATE TABLE "+table+" (connection_id bigint NOT NULL, id text NOT NULL, raw jsonb COMPRESSION "+method+" NOT NULL"+
		", PRIMARY KEY (connection_id, id))")
	return err
}

// rawCompression is how mail_messages' raw column is compressed: lz4 or pglz.
func (e *env) rawCompression(ctx context.Context) (string, error) {
	var method string
	err := e.pool.QueryRow(ctx, `SELECT CASE attcompression WHEN 'l' THEN 'lz4' ELSE 'pglz' END FROM pg_attribute
		WHERE attrelid = 'mail_messages'::regclass AND attname = 'raw'`).Scan(&method)
	return method, err
}

// copyBoth COPYs rows into table as one stream, then as one stream per
// mailbox at once, and returns both durations.
func (e *env) copyBoth(ctx context.Context, table string, columns []string, rows [][]any) (one, par time.Duration, err error) {
	if one, err = e.copyTimed(ctx, table, columns, [][][]any{rows}); err != nil {
		return 0, 0, err
	}
	par, err = e.copyTimed(ctx, table, columns, byMailbox(rows))
	return one, par, err
}

// forgetMail empties the mail tables and their checkpoints, so the next
// pass is an initial sync again.
func (e *env) forgetMail(ctx context.Context) error {
	for _, sql := range []string{"TRUNCATE mail_messages, mail_folders, mail_attachments, detail_fetches, changes", "DELETE FROM sync_state WHERE resource = 'mail'",
		"DELETE FROM river_job", "VACUUM ANALYZE mail_messages", "VACUUM ANALYZE mail_folders"} {
		if _, err := e.pool.Exec(ctx, sql); err != nil {
			return fmt.Errorf("forget mail: %w", err)
		}
	}
	return nil
}

// changeFeed enables or disables the change feed's triggers on every table
// that feeds it.
func (e *env) changeFeed(ctx context.Context, on bool) error {
	rows, err := e.pool.Query(ctx, "SELECT table_name FROM change_tables")
	if err != nil {
		return err
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	verb := map[bool]string{true: "ENABLE", false: "DISABLE"}[on]
	for _, t := range tables {
		if _, err := e.pool.Exec(ctx, "ALTER TABLE "+pgx.Identifier{t}.Sanitize()+" "+verb+" TRIGGER USER"); err != nil {
			return fmt.Errorf("%s the change feed on %s: %w", strings.ToLower(verb), t, err)
		}
	}
	return nil
}

// tinyOthers keeps the resources a scenario does not measure small.
func tinyOthers(c emulator.Config) emulator.Config {
	c.EventsPerUser, c.DriveItemsPerUser, c.ChatsPerUser, c.ChatMessagesPerChat = 1, 1, 1, 1
	c.PeoplePerUser, c.ContactsPerUser = 1, 1
	return c
}

// servedRows reads every mailbox's messages as the emulator serves them to
// graphsync (readAll) and turns them into mail_messages rows; it returns
// the rows, their JSON's size, and the messages read and how long reading
// took.
func (e *env) servedRows(ctx context.Context) (rows [][]any, size int, read int64, dur time.Duration, err error) {
	var pages []servedPage
	var mu sync.Mutex
	read, dur, err = e.readAll(ctx, 4, func(user string, body []byte) {
		b := append([]byte(nil), body...)
		mu.Lock()
		pages = append(pages, servedPage{user, b})
		mu.Unlock()
	})
	if err != nil {
		return nil, 0, 0, 0, err
	}
	rows, size, err = e.copyRows(pages)
	return rows, size, read, dur, err
}

// copyRows turns the message pages the emulator served into
// mail_messages rows with the values graphsync stores.
func (e *env) copyRows(pages []servedPage) ([][]any, int, error) {
	user := map[string]int64{}
	for _, c := range e.conns {
		user[c.UserID] = c.ID
	}
	var rows [][]any
	size := 0
	for _, pg := range pages {
		var p struct {
			Value []json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(pg.body, &p); err != nil {
			return nil, 0, err
		}
		for _, raw := range p.Value {
			m, err := graphsync.DecodeMessage(raw)
			if err != nil {
				return nil, 0, err
			}
			size += len(raw)
			rows = append(rows, messageRow(user[pg.user], pg.user, &m, raw))
		}
	}
	return rows, size, nil
}

// copyTimed COPYs each part into table at once, on its own
// connection, and returns how long they took together; the table is left
// empty and analyzed.
func (e *env) copyTimed(ctx context.Context, table string, columns []string, parts [][][]any) (time.Duration, error) {
	dur, _, err := e.copySized(ctx, table, columns, parts)
	return dur, err
}

// copySized is copyTimed that also returns the table's size on disk, its
// indexes and TOAST included, once the rows are in.
func (e *env) copySized(ctx context.Context, table string, columns []string, parts [][][]any) (time.Duration, int64, error) {
	if limit := int(e.pool.Config().MaxConns); len(parts) > limit {
		return 0, 0, fmt.Errorf("copy: %d streams at once, the pool holds %d connections", len(parts), limit)
	}
	// Connections are taken before the clock starts, and given back before
	// the TRUNCATE below needs one.
	conns := make([]*pgxpool.Conn, 0, len(parts))
	release := func() {
		for _, c := range conns {
			c.Release()
		}
	}
	for range parts {
		c, err := e.pool.Acquire(ctx)
		if err != nil {
			release()
			return 0, 0, err
		}
		conns = append(conns, c)
	}
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	t0 := time.Now()
	for i, part := range parts {
		wg.Go(func() {
			_, errs[i] = conns[i].CopyFrom(ctx, pgx.Identifier{table}, columns, pgx.CopyFromRows(part))
		})
	}
	wg.Wait()
	dur := time.Since(t0)
	release()
	if err := errors.Join(errs...); err != nil {
		return 0, 0, fmt.Errorf("copy: %w", err)
	}
	var size int64
	if err := e.pool.QueryRow(ctx, "SELECT pg_total_relation_size($1::regclass)", pgx.Identifier{table}.Sanitize()).Scan(&size); err != nil {
		return 0, 0, err
	}
	for _, sql := range []string{"TRUNCATE ", "VACUUM ANALYZE "} {
		if _, err := e.pool.Exec(ctx, sql+pgx.Identifier{table}.Sanitize()); err != nil {
			return 0, 0, err
		}
	}
	return dur, size, nil
}

// servedPage is a page of messages the emulator served for a user.
type servedPage struct {
	user string
	body []byte
}

func messageRow(connID int64, userID string, m *graphsync.Message, raw []byte) []any {
	addrs := func(rs []graphsync.Recipient) []string {
		var out []string
		for _, r := range rs {
			out = append(out, strings.ToLower(r.EmailAddress.Address))
		}
		return out
	}
	var from, fromName, sender, ctype, flag *string
	if m.From != nil {
		a := strings.ToLower(m.From.EmailAddress.Address)
		from, fromName = &a, &m.From.EmailAddress.Name
	}
	if m.Sender != nil {
		a := strings.ToLower(m.Sender.EmailAddress.Address)
		sender = &a
	}
	if m.Body != nil {
		t := strings.ToLower(m.Body.ContentType)
		ctype = &t
	}
	if m.Flag != nil {
		flag = &m.Flag.FlagStatus
	}
	return []any{connID, m.ID, userID, m.ParentFolderID, m.Subject, from, fromName, sender,
		addrs(m.ToRecipients), addrs(m.CcRecipients), addrs(m.BccRecipients),
		m.ReceivedDateTime, m.SentDateTime, m.CreatedDateTime, m.LastModifiedDateTime,
		m.IsRead, m.IsDraft, m.Importance, m.HasAttachments, m.ConversationID, m.InternetMessageID,
		store.CleanText(m.BodyPreview), ctype, m.Categories, flag, m.InferenceClassification, m.WebLink,
		store.CleanJSON(raw), nil}
}

// verifyMail compares every connection's folders and messages with the
// truth.
func (e *env) verifyMail(ctx context.Context) error {
	for _, c := range e.conns {
		res, err := verify.Mail(ctx, e.pool, e.em.URL(), c.ID, c.UserID)
		if err != nil {
			return err
		}
		for _, r := range res {
			// Passes stop once the messages are stored (timedPass).
			if len(r.Diffs) > 0 && r.Table != "mail_attachments" {
				return fmt.Errorf("connection %d %s differs from the emulator: %v", c.ID, r.Table, r.Diffs)
			}
		}
	}
	return nil
}

// reader reads Graph as a plain client does: an app token, net/http, no
// gates or retries. The emulator alone and the baseline read through it.
type reader struct {
	e      *env
	token  string
	client *http.Client
}

func (e *env) newReader(ctx context.Context, conns int) (*reader, error) {
	a, err := identity.NewAuth(e.auth())
	if err != nil {
		return nil, err
	}
	tok, err := a.ClientCredentials(ctx)
	if err != nil {
		return nil, err
	}
	return &reader{e: e, token: tok.AccessToken,
		client: &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: conns}}}, nil
}

// get reads link into buf, asking for the workers' page size and
// immutable ids as graphsync does.
func (rd *reader) get(ctx context.Context, link string, buf *bytes.Buffer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, link, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+rd.token)
	req.Header.Set("Prefer", fmt.Sprintf(`odata.maxpagesize=%d, IdType="ImmutableId"`, rd.e.o.mailPageSize()))
	resp, err := rd.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	buf.Reset()
	if _, err := io.Copy(buf, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", linkPath(link), resp.Status)
	}
	return nil
}

// round follows a delta round from start, handing each page's body to each.
func (rd *reader) round(ctx context.Context, start string, each func([]byte) error) error {
	var buf bytes.Buffer
	for link := start; link != ""; {
		if err := rd.get(ctx, link, &buf); err != nil {
			return err
		}
		body := buf.Bytes()
		if err := each(body); err != nil {
			return err
		}
		link = nextLink(body)
	}
	return nil
}

// folderIDs lists a mailbox's folders.
func (rd *reader) folderIDs(ctx context.Context, user string) ([]string, error) {
	var ids []string
	err := rd.round(ctx, rd.e.em.URL()+"/v1.0/users/"+url.PathEscape(user)+"/mailFolders/delta", func(body []byte) error {
		var p struct {
			Value []struct {
				ID string `json:"id"`
			} `json:"value"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			return err
		}
		for _, f := range p.Value {
			ids = append(ids, f.ID)
		}
		return nil
	})
	return ids, err
}

// messagesDelta is the first link of a folder's messages delta round.
func (rd *reader) messagesDelta(user, folder string) string {
	return rd.e.em.URL() + "/v1.0/users/" + url.PathEscape(user) + "/mailFolders/" + url.PathEscape(folder) + "/messages/delta"
}

// readAll reads every mailbox's folders and messages delta rounds as
// graphsync requests them (immutable ids, the same page size), perMailbox
// folders at a time, counting items with a byte scan. It returns the
// messages read.
func (e *env) readAll(ctx context.Context, perMailbox int, keep func(user string, body []byte)) (int64, time.Duration, error) {
	rd, err := e.newReader(ctx, 64)
	if err != nil {
		return 0, 0, err
	}
	marker := []byte(`"@odata.type":"#microsoft.graph.message"`)
	var msgs atomic.Int64
	// Folder lists are read first and not timed; the messages are.
	type job struct{ user, folder string }
	var work []job
	for _, c := range e.conns {
		ids, err := rd.folderIDs(ctx, c.UserID)
		if err != nil {
			return 0, 0, err
		}
		for _, id := range ids {
			work = append(work, job{c.UserID, id})
		}
	}
	t0 := time.Now()
	next := make(chan job)
	var wg sync.WaitGroup
	var first atomic.Value
	for i := 0; i < perMailbox*len(e.conns); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				err := rd.round(ctx, rd.messagesDelta(j.user, j.folder), func(body []byte) error {
					msgs.Add(int64(bytes.Count(body, marker)))
					if keep != nil {
						keep(j.user, body)
					}
					return nil
				})
				if err != nil {
					first.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	for _, j := range work {
		next <- j
	}
	close(next)
	wg.Wait()
	if err, ok := first.Load().(error); ok {
		return 0, 0, err
	}
	return msgs.Load(), time.Since(t0), nil
}

// nextLink reads a page's @odata.nextLink; Graph escapes & as \u0026.
func nextLink(body []byte) string {
	key := []byte(`"@odata.nextLink":`)
	i := bytes.LastIndex(body, key)
	if i < 0 {
		return ""
	}
	var s string
	if json.NewDecoder(bytes.NewReader(body[i+len(key):])).Decode(&s) != nil {
		return ""
	}
	return s
}

func linkPath(link string) string {
	if i := strings.IndexByte(link, '?'); i >= 0 {
		return link[:i]
	}
	return link
}

func perSec(v float64) string { return count(int(v + 0.5)) }

func pct(v float64) string { return fmt.Sprintf("%.0f%%", v*100) }

// count formats n with thousands separators.
func count(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + count(-n)
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
