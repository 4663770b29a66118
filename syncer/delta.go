package syncer

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/graphsync/graphsync/graph"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/redact"
	"github.com/graphsync/graphsync/store"
)

// applyFunc writes one page's items in tx; seenAt is set during full rounds.
type applyFunc func(ctx context.Context, tx store.Tx, items []json.RawMessage, seenAt *time.Time) (store.Progress, error)

// deltaStream is one Graph delta collection checkpointed as one stream.
type deltaStream struct {
	stream  graphsync.Stream
	initial string // path of the first request of a full round
	apply   applyFunc
	// retire, when set, retires rows a full round begun at since did not
	// see; it runs with the round's last page.
	retire func(ctx context.Context, tx store.Tx, since time.Time) (int64, error)
}

// tableStream is the deltaStream of one table's items in stream st, in
// window w for a windowed table.
func (r *run) tableStream(t *graphsync.Table, st graphsync.Stream, initial string, w graphsync.Window) deltaStream {
	rows := r.rowsStream(st)
	return deltaStream{
		stream:  st,
		initial: initial,
		apply: func(ctx context.Context, tx store.Tx, items []json.RawMessage, seen *time.Time) (store.Progress, error) {
			return r.applyPage(ctx, tx, t, st, items, seen, w)
		},
		retire: func(ctx context.Context, tx store.Tx, since time.Time) (int64, error) {
			n, err := r.eng.store.RetireUnseenTx(ctx, tx, t, rows, since, w)
			r.countRemoved(n)
			return n.Total(), err
		},
	}
}

// rowsStream is the stream whose container the rows of st are stored
// under: the same, but for the default folder Graph does not list, whose
// rows are stored under no container.
func (r *run) rowsStream(st graphsync.Stream) graphsync.Stream {
	if d := r.resource.DefaultFolder(); d != "" && st.Container == d {
		return st.In("")
	}
	return st
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
				if since, err = r.eng.store.StartRound(ctx, d.stream, full); err != nil {
					return err
				}
			}
		}
		err = r.pages(ctx, d, link, full, since)
		if graph.IsSyncReset(err) && resets < 2 {
			deltaResyncs.WithLabelValues(r.resource.Name()).Inc()
			r.log.WarnContext(ctx, "delta token no longer valid; resyncing the stream", "stream", d.stream.Container, "error", err)
			if err := r.eng.store.ResetStream(ctx, d.stream, err.Error()); err != nil {
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
		if r.pastDeadline() {
			return errContinue
		}
		page, err := r.getPage(ctx, link)
		if err != nil {
			return err
		}
		if page.NextLink == "" && page.DeltaLink == "" {
			return fmt.Errorf("page from %s has neither @odata.nextLink nor @odata.deltaLink", redact.Link(link))
		}
		if len(page.Items) == 0 && page.NextLink == "" && !full {
			// The common idle case, nothing changed: the new deltaLink is
			// recorded with the resource's other idle streams in one
			// statement, without a transaction or the mailbox lock.
			r.markIdle(store.Finish{Stream: d.stream, DeltaLink: page.DeltaLink, Progress: store.Progress{Pages: 1}})
			r.pageStored()
			return nil
		}
		write := func(apply applyFunc) error {
			return r.writePage(ctx, func(tx store.Tx) error {
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
		r.pageStored()
		if page.NextLink == "" {
			return nil
		}
		link = page.NextLink
	}
}

// commitPage writes one page's items and its checkpoint in tx.
func (r *run) commitPage(ctx context.Context, tx store.Tx, d deltaStream, page *graph.Page, apply applyFunc, full bool, since time.Time) error {
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
		return r.eng.store.CheckpointTx(ctx, tx, d.stream, page.NextLink, p)
	}
	if full && d.retire != nil {
		n, err := d.retire(ctx, tx, since)
		if err != nil {
			return err
		}
		p.Deleted += int(n)
	}
	return r.eng.store.FinishRoundTx(ctx, tx, store.Finish{Stream: d.stream, DeltaLink: page.DeltaLink, Progress: p})
}

// writePage runs one page's transaction under the mailbox's write lock
// (parallel folders of one mailbox share rows when messages move), retrying
// it a few times after a deadlock or serialization failure.
func (r *run) writePage(ctx context.Context, fn func(store.Tx) error) error {
	// Take the mailbox's turn in this process before a pool connection:
	// goroutines queued on the advisory lock would each hold one, and a
	// few busy mailboxes could starve River of connections.
	unlock := mailboxWrites.lock(mailboxKey{r.req.Conn.ID, r.req.User})
	defer unlock()
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		err = r.eng.store.InTx(ctx, func(tx store.Tx) error {
			if err := r.eng.store.LockMailboxTx(ctx, tx, r.req.Conn.ID, r.req.User); err != nil {
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

type mailboxKey struct {
	conn int64
	user string
}

// mailboxWrites serialises page writes per mailbox within the process.
var mailboxWrites = keyedMutex{m: map[mailboxKey]*refMutex{}}

// keyedMutex is one mutex per key, dropped when nobody holds or awaits it.
type keyedMutex struct {
	mu sync.Mutex
	m  map[mailboxKey]*refMutex
}

type refMutex struct {
	sync.Mutex
	refs int
}

func (k *keyedMutex) lock(key mailboxKey) (unlock func()) {
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
