package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

// deltaStream is one Graph delta collection checkpointed as one stream.
type deltaStream struct {
	stream  store.Stream
	initial string // path of the first request of a full round
	service graphsync.Service
	// apply writes one page's items; seenAt is set during full rounds.
	apply func(ctx context.Context, tx pgx.Tx, items []json.RawMessage, seenAt *time.Time) (store.Progress, error)
	// retire, when set, soft-deletes rows a full round begun at since did
	// not see; it runs with the round's last page.
	retire func(ctx context.Context, tx pgx.Tx, since time.Time) (int64, error)
}

// runDelta brings a stream up to date: it resumes a round from its
// checkpoint, or starts one from the deltaLink (incremental) or from scratch
// (full), and follows nextLinks to the deltaLink. Each page's rows and the
// next checkpoint commit together, so a crash at any point resumes at the
// first uncommitted page. When Graph says the token is no longer valid, the
// stream restarts as a full round.
func (r *run) runDelta(ctx context.Context, d deltaStream) error {
	for resets := 0; ; resets++ {
		st, err := r.state(ctx, d.stream)
		if err != nil {
			return err
		}
		link, full := st.NextLink, st.FullRound
		var since time.Time
		if st.RoundStartedAt != nil {
			since = *st.RoundStartedAt
		}
		if link == "" {
			full = st.DeltaLink == ""
			link = st.DeltaLink
			if full {
				link = d.initial
				// Only a full round needs its start: rows it does not see
				// by its end, marked before that start, are retired.
				if since, err = r.svc.store.StartRoundTx(ctx, r.svc.store.Pool(), d.stream, full); err != nil {
					return err
				}
			}
		}
		err = r.pages(ctx, d, link, full, since)
		if graphsync.IsSyncReset(err) && resets < 2 {
			deltaResyncs.WithLabelValues(r.resource).Inc()
			r.log.WarnContext(ctx, "delta token no longer valid; resyncing the stream", "stream", d.stream.Name, "error", err)
			if err := r.svc.store.ResetStream(ctx, d.stream, err.Error()); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("sync %s: %w", d.stream, err)
		}
		return nil
	}
}

func (r *run) pages(ctx context.Context, d deltaStream, link string, full bool, since time.Time) error {
	for {
		if time.Now().After(r.deadline) {
			return errContinue
		}
		page, err := r.getPage(ctx, d.service, link)
		if err != nil {
			return err
		}
		if page.NextLink == "" && page.DeltaLink == "" {
			return fmt.Errorf("page from %s has neither @odata.nextLink nor @odata.deltaLink", linkPath(link))
		}
		if len(page.Items) == 0 && page.NextLink == "" && !full {
			// The common idle case, nothing changed: the new deltaLink is
			// recorded with the resource's other idle streams in one
			// statement, without a transaction or the mailbox lock.
			r.markIdle(store.Finish{Stream: d.stream, DeltaLink: page.DeltaLink, Progress: store.Progress{Pages: 1}})
			pagesFetched.WithLabelValues(r.resource).Inc()
			return nil
		}
		write := func(apply func(context.Context, pgx.Tx, []json.RawMessage, *time.Time) (store.Progress, error)) error {
			return r.writePage(ctx, func(tx pgx.Tx) error {
				return r.commitPage(ctx, tx, d, page, apply, full, since)
			})
		}
		err = write(d.apply)
		if store.Rejected(err) {
			// One record PostgreSQL cannot take must not hold up the stream.
			err = write(r.oneByOne(d))
		}
		if err != nil {
			return err
		}
		pagesFetched.WithLabelValues(r.resource).Inc()
		if page.NextLink == "" {
			return nil
		}
		link = page.NextLink
	}
}

// commitPage writes one page's items and its checkpoint in tx.
func (r *run) commitPage(ctx context.Context, tx pgx.Tx, d deltaStream, page *graphsync.Page,
	apply func(context.Context, pgx.Tx, []json.RawMessage, *time.Time) (store.Progress, error), full bool, since time.Time) error {
	var seen *time.Time
	if full {
		seen = &since
	}
	p, err := apply(ctx, tx, page.Items, seen)
	if err != nil {
		return err
	}
	p.Pages = 1
	if page.NextLink != "" {
		return r.svc.store.CheckpointTx(ctx, tx, d.stream, page.NextLink, p)
	}
	if full && d.retire != nil {
		n, err := d.retire(ctx, tx, since)
		if err != nil {
			return err
		}
		p.Deleted += int(n)
	}
	return r.svc.store.FinishRoundTx(ctx, tx, d.stream, page.DeltaLink, p)
}

// writePage runs one page's transaction under the mailbox's write lock
// (parallel folders of one mailbox share rows when messages move), retrying
// it a few times after a deadlock or serialization failure.
func (r *run) writePage(ctx context.Context, fn func(pgx.Tx) error) error {
	key := fmt.Sprintf("graphsync/%d/%s", r.conn.ID, r.userID)
	// Take the mailbox's turn in this process before a pool connection:
	// goroutines queued on the advisory lock would each hold one, and a
	// few busy mailboxes could starve River of connections.
	unlock := mailboxWrites.lock(key)
	defer unlock()
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		err = r.svc.store.Tx(ctx, func(tx pgx.Tx) error {
			if err := r.svc.store.LockTx(ctx, tx, key); err != nil {
				return err
			}
			return fn(tx)
		})
		if !store.Retryable(err) {
			return err
		}
	}
	return err
}

// mailboxWrites serialises page writes per mailbox within the process.
var mailboxWrites = keyedMutex{m: map[string]*refMutex{}}

// keyedMutex is one mutex per key, dropped when nobody holds or awaits it.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*refMutex
}

type refMutex struct {
	sync.Mutex
	refs int
}

func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	m := k.m[key]
	if m == nil {
		m = &refMutex{}
		k.m[key] = m
	}
	m.refs++
	k.mu.Unlock()
	m.Lock()
	return func() {
		m.Unlock()
		k.mu.Lock()
		if m.refs--; m.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}

// linkPath drops the query (which holds sync tokens) for error messages.
func linkPath(link string) string {
	for i := 0; i < len(link); i++ {
		if link[i] == '?' {
			return link[:i]
		}
	}
	return link
}

// entry is one delta item after replays within a page are folded: the last
// occurrence of an id wins.
type entry struct {
	id      string
	raw     json.RawMessage
	removed bool
}

// foldPage reads ids and @removed markers; items without a usable id are
// returned apart for quarantine.
func foldPage(items []json.RawMessage) (entries []entry, noID []json.RawMessage) {
	index := make(map[string]int, len(items))
	for _, raw := range items {
		// Items come from a validated page: read the id without decoding
		// (and validating again) the whole item.
		id, ok := graphsync.ID(raw)
		if !ok || id == "" || len(id) > maxIDBytes {
			noID = append(noID, raw)
			continue
		}
		_, removed := graphsync.Removed(raw)
		e := entry{id: id, raw: raw, removed: removed}
		if i, ok := index[id]; ok {
			entries[i] = e
			continue
		}
		index[id] = len(entries)
		entries = append(entries, e)
	}
	return entries, noID
}

// quarantine stores records that cannot be written, with the reason.
func (r *run) quarantine(ctx context.Context, tx pgx.Tx, st store.Stream, id string, reason error, raw []byte) error {
	recordsWritten.WithLabelValues(r.resource, "quarantined").Inc()
	r.log.WarnContext(ctx, "record quarantined", "stream", st.Name, "item_id", store.CleanText(id), "reason", reason.Error())
	return r.svc.store.QuarantineTx(ctx, tx, st, id, reason.Error(), raw)
}

// mergeJSON lays a partial delta item over the stored object: Graph's delta
// may send an updated item as its id plus only the changed properties.
func mergeJSON(stored, partial []byte) ([]byte, error) {
	var base map[string]json.RawMessage
	if err := json.Unmarshal(stored, &base); err != nil {
		return nil, fmt.Errorf("stored object: %w", err)
	}
	var upd map[string]json.RawMessage
	if err := json.Unmarshal(partial, &upd); err != nil {
		return nil, err
	}
	for k, v := range upd {
		base[k] = v
	}
	return json.Marshal(base)
}
