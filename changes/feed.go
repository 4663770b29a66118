package changes

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

// Filter narrows what a reader receives: the changes of some resources
// (a connection's events always pass) and some connections. The zero
// Filter keeps everything.
type Filter = store.ChangeFilter

// MaxLimit bounds one read.
const MaxLimit = 10_000

// Page is one read of the feed.
type Page struct {
	store.ChangePage
	// More says the read stopped at its limit: more changes had committed
	// by the time it began.
	More bool
}

// Feed reads the change feed.
type Feed struct {
	store *store.Store
	// PollEvery is how often Follow reads without being woken, should a
	// notification be lost with its connection (default 30 s).
	PollEvery time.Duration
}

// NewFeed returns the feed of st's database.
func NewFeed(st *store.Store) *Feed { return &Feed{store: st, PollEvery: 30 * time.Second} }

// Read returns up to limit changes after cursor after that f keeps. A
// cursor older than the feed keeps fails with a *store.CursorExpiredError
// naming the oldest cursor available.
func (f *Feed) Read(ctx context.Context, after graphsync.Cursor, filter Filter, limit int) (Page, error) {
	if limit < 1 || limit > MaxLimit {
		return Page{}, fmt.Errorf("read changes: limit %d is not between 1 and %d", limit, MaxLimit)
	}
	p, err := f.store.ReadChanges(ctx, after, filter, limit)
	if err != nil {
		return Page{}, err
	}
	return Page{ChangePage: p, More: p.Next.InBatch()}, nil
}

// Now is the cursor of the present: reading from it returns what commits
// from now on.
func (f *Feed) Now(ctx context.Context) (graphsync.Cursor, error) { return f.store.ChangesNow(ctx) }

// Oldest is the oldest cursor available.
func (f *Feed) Oldest(ctx context.Context) (graphsync.Cursor, error) {
	return f.store.OldestChanges(ctx)
}

// Follow reads the feed from after, in pages of up to limit, and calls fn
// with each page that has changes, until ctx ends (returning nil) or fn or
// a read fails. Caught up, it waits for the feed's notification of a
// commit (or PollEvery).
func (f *Feed) Follow(ctx context.Context, after graphsync.Cursor, filter Filter, limit int, fn func(Page) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wake := make(chan struct{}, 1)
	ready := make(chan struct{})
	listening := make(chan error, 1)
	go func() {
		listening <- f.store.ListenChanges(ctx, func() { close(ready) }, func(store.ChangeNotice) {
			select {
			case wake <- struct{}{}:
			default:
			}
		})
	}()
	// Listen first: a commit between the last read and the wait wakes it.
	select {
	case <-ready:
	case err := <-listening:
		return err
	case <-ctx.Done():
		return nil
	}
	poll := time.NewTicker(max(f.PollEvery, 10*time.Millisecond))
	defer poll.Stop()
	for {
		for {
			p, err := f.Read(ctx, after, filter, limit)
			if errors.Is(err, context.Canceled) && ctx.Err() != nil {
				return nil
			}
			if err != nil {
				return err
			}
			if len(p.Changes) > 0 {
				if err := fn(p); err != nil {
					return err
				}
			}
			after = p.Next
			if !p.More {
				break
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case err := <-listening:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("follow changes: %w", err)
		case <-wake:
		case <-poll.C:
		}
	}
}
