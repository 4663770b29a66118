package syncer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/graphsync/graphsync/graph"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/redact"
	"github.com/graphsync/graphsync/store"
)

// prepareFunc does the work of a page's items that needs no transaction
// (folding them, mapping them to rows, reading what they link to) and
// returns the write that stores them: the page's transaction, which holds
// the mailbox's write turn, then runs only the statements.
type prepareFunc func(ctx context.Context, items []json.RawMessage) (writeFunc, error)

// writeFunc writes a prepared page in tx; seenAt is set during full rounds.
type writeFunc func(ctx context.Context, tx store.Tx, seenAt *time.Time) (store.Progress, error)

// deltaStream is one Graph delta collection checkpointed as one stream.
type deltaStream struct {
	stream  graphsync.Stream
	initial string // path of the first request of a full round
	prepare prepareFunc
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
		prepare: func(_ context.Context, items []json.RawMessage) (writeFunc, error) {
			mp := r.mapPage(t, st, items)
			return func(ctx context.Context, tx store.Tx, seen *time.Time) (store.Progress, error) {
				return r.storePage(ctx, tx, t, st, mp, seen, w)
			}, nil
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
// stream restarts as a full round; when a round cannot go on (a link the
// client will not follow, a paging loop), it restarts on the next attempt.
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
		}
		if link != "" && resets < 2 {
			// A link stored before links were checked, or under another
			// Graph URL, would be refused for ever: start over without it.
			if cerr := r.eng.graph.CheckLink(link); cerr != nil {
				if err := r.dropStoredLink(ctx, d.stream, link == st.NextLink, cerr); err != nil {
					return err
				}
				continue
			}
		}
		if link == "" {
			link = d.initial
			// Only a full round needs its start: rows it does not see
			// by its end, marked before that start, are retired.
			if since, err = r.eng.store.StartRound(ctx, d.stream, full); err != nil {
				return err
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
			return fmt.Errorf("sync %s: %w", d.stream, r.restartRound(ctx, d.stream, err))
		}
		return nil
	}
}

// dropStoredLink forgets a stored link the Graph client refuses: a nextLink
// restarts its round, a deltaLink makes the next round a full one.
func (r *run) dropStoredLink(ctx context.Context, st graphsync.Stream, next bool, cerr error) error {
	roundsRestarted.WithLabelValues(r.resource.Name(), "refused").Inc()
	reason := "the stored checkpoint link is one the client will not follow (" + cerr.Error() + "); the round starts over"
	r.log.WarnContext(ctx, "dropping a stored link the client will not follow", "stream", st.Container, "reason", cerr.Error())
	if next {
		return r.eng.store.RestartRound(ctx, st, reason)
	}
	return r.eng.store.DropDeltaLink(ctx, st, reason)
}

// pages follows a round from link. A page that cannot be read whole (over
// the body cap, or not valid JSON) is asked for again in smaller pages,
// which stay small until the round ends, and at one item per page (or where
// pages cannot shrink) is read item by item: what cannot be kept is
// quarantined and the round goes on.
//
// While a page's transaction runs, the next page (its link is in the page)
// is fetched: Graph's latency and PostgreSQL's time overlap instead of
// adding up. The fetched page is used only once its predecessor committed,
// and dropped otherwise, so a crash still resumes at the first uncommitted
// page; a stream holds at most the page it writes and the one after.
func (r *run) pages(ctx context.Context, d deltaStream, link string, full bool, since time.Time) error {
	guard := r.pager(link)
	var o pageOpts
	var next *prefetch
	defer func() { next.drop() }()
	for {
		if r.pastDeadline() {
			return errContinue
		}
		var page *graph.Page
		var err error
		if next.fetched(link, o) {
			page, err = next.wait()
		} else {
			next.drop()
			page, err = r.getPage(ctx, link, o)
		}
		next = nil
		var unreadable *graph.UnreadablePageError
		if errors.As(err, &unreadable) && !o.salvage {
			smallerPages.WithLabelValues(r.resource.Name()).Inc()
			if n, ok := unreadable.SmallerPageSize(); ok {
				r.log.WarnContext(ctx, "page cannot be read whole; asking for smaller pages", "stream", d.stream.Container,
					"page_size", n, "error", err)
				o.size = n
			} else {
				r.log.WarnContext(ctx, "page cannot be read whole; reading it item by item", "stream", d.stream.Container, "error", err)
				o.salvage = true
			}
			continue
		}
		if err != nil {
			return err
		}
		if page.NextLink == "" && page.DeltaLink == "" {
			return fmt.Errorf("page from %s has neither @odata.nextLink nor @odata.deltaLink", redact.Link(link))
		}
		if err := guard.check(page); err != nil {
			return err
		}
		if len(page.Items) == 0 && len(page.Refused) == 0 && page.NextLink == "" && !full {
			// The common idle case, nothing changed: the new deltaLink is
			// recorded with the resource's other idle streams in one
			// statement, without a transaction or the mailbox lock.
			r.markIdle(store.Finish{Stream: d.stream, DeltaLink: page.DeltaLink, Progress: store.Progress{Pages: 1}})
			r.pageStored()
			return nil
		}
		// The next page is asked for once this one's write has the
		// mailbox's turn, not while it queues for it: streams waiting on
		// each other's writes would each hold two pages for nothing.
		ahead := page.NextLink != "" && !r.pastDeadline()
		write := func(prepare func() (writeFunc, error)) error {
			return r.writeMapped(ctx, prepare, func(tx store.Tx, fn writeFunc) error {
				if ahead && next == nil {
					next = r.prefetch(ctx, page.NextLink, pageOpts{size: o.size})
				}
				return r.commitPage(ctx, tx, d, page, fn, full, since)
			})
		}
		err = write(func() (writeFunc, error) { return d.prepare(ctx, page.Items) })
		if store.Rejected(err) {
			// One record PostgreSQL cannot take must not hold up the stream.
			err = write(func() (writeFunc, error) { return r.oneByOne(ctx, d, page.Items) })
		}
		if err != nil {
			return err
		}
		r.pageStored()
		if page.NextLink == "" {
			return nil
		}
		link, o.salvage = page.NextLink, false
	}
}

// prefetch is the next page of a round, fetched while the current one is
// written.
type prefetch struct {
	link   string
	opts   pageOpts
	cancel context.CancelFunc
	done   chan struct{}
	page   *graph.Page
	err    error
}

// prefetch starts fetching the page at link.
func (r *run) prefetch(ctx context.Context, link string, o pageOpts) *prefetch {
	ctx, cancel := context.WithCancel(ctx)
	p := &prefetch{link: link, opts: o, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.page, p.err = r.getPage(ctx, link, o)
	}()
	return p
}

// fetched says whether p is the page at link asked with o.
func (p *prefetch) fetched(link string, o pageOpts) bool {
	return p != nil && p.link == link && p.opts == o
}

// wait returns the page once fetched.
func (p *prefetch) wait() (*graph.Page, error) {
	<-p.done
	p.cancel()
	return p.page, p.err
}

// drop abandons the page, waiting for its request to end so that it holds
// neither memory nor a request slot afterwards.
func (p *prefetch) drop() {
	if p == nil {
		return
	}
	p.cancel()
	<-p.done
}

// commitPage writes one page's items (prepared as fn) and its checkpoint in tx.
func (r *run) commitPage(ctx context.Context, tx store.Tx, d deltaStream, page *graph.Page, fn writeFunc, full bool, since time.Time) error {
	var seen *time.Time
	if full {
		seen = &since
	}
	for _, f := range page.Refused {
		if err := r.quarantine(ctx, tx, d.stream, f.ID, fmt.Errorf("record of %d bytes %s", f.Size, f.Reason), f.Payload); err != nil {
			return err
		}
	}
	p, err := fn(ctx, tx, seen)
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
	return r.writeTurn(ctx, nil, fn)
}

// writeMapped prepares a delta page, then writes it (write runs in
// writePage's transaction with the prepared page). It prepares with the
// mailbox's next turn: one page per mailbox is mapped while the mailbox's
// current one is written, not one per stream, as each would hold its rows
// while it queued.
func (r *run) writeMapped(ctx context.Context, prepare func() (writeFunc, error), write func(store.Tx, writeFunc) error) error {
	unnext := mailboxNext.lock(r.mailbox())
	fn, err := prepare()
	if err != nil {
		unnext()
		return err
	}
	return r.writeTurn(ctx, unnext, func(tx store.Tx) error { return write(tx, fn) })
}

// writeTurn is writePage, calling queued, if set, once the write lock is
// held.
func (r *run) writeTurn(ctx context.Context, queued func(), fn func(store.Tx) error) error {
	// Take the mailbox's turn in this process before a pool connection:
	// goroutines queued on the advisory lock would each hold one, and a
	// few busy mailboxes could starve River of connections.
	unlock := mailboxWrites.lock(r.mailbox())
	defer unlock()
	if queued != nil {
		queued()
	}
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

func (r *run) mailbox() mailboxKey { return mailboxKey{r.req.Conn.ID, r.req.User} }

type mailboxKey struct {
	conn int64
	user string
}

// mailboxWrites serialises page writes per mailbox within the process;
// mailboxNext, the preparing of the page to be written next.
var (
	mailboxWrites = keyedMutex{m: map[mailboxKey]*refMutex{}}
	mailboxNext   = keyedMutex{m: map[mailboxKey]*refMutex{}}
)

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
