package syncer

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/graphsync/graphsync/graph"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/internal/redact"
	"github.com/graphsync/graphsync/store"
)

// peopleContainer names the stream of a user's People list.
const peopleContainer = "people"

// syncPeople syncs a RankedList: the user's relevance-ordered People list.
// The API has no delta, so every round is a full snapshot: each page's
// people are written with their rank and marked seen, the next page's URL
// is checkpointed with them, and the last page retires whoever the round
// did not list.
func (r *run) syncPeople(ctx context.Context) error {
	t := r.resource.Items()
	st := r.stream(peopleContainer)
	state, err := r.state(ctx, st)
	if err != nil {
		return err
	}
	link := state.NextLink
	var since time.Time
	if state.RoundStartedAt != nil {
		since = *state.RoundStartedAt
	}
	// A new round is recorded once its first page shows it has something
	// to write.
	if link != "" {
		if cerr := r.eng.graph.CheckLink(link); cerr != nil {
			// Refused for ever if kept: start the list over.
			if err := r.dropStoredLink(ctx, st, true, cerr); err != nil {
				return err
			}
			link = ""
		}
	}
	start := link == "" || since.IsZero()
	if start {
		link = r.listLink()
	}
	guard := r.pager(link)
	// Every job writes at least one page, so that a short time budget still
	// makes progress.
	for first := true; ; first = false {
		if !first && r.pastDeadline() {
			return errContinue
		}
		page, err := r.getPage(ctx, link, pageOpts{})
		if err != nil {
			return fmt.Errorf("sync people: %w", err)
		}
		if err := guard.check(page); err != nil {
			return fmt.Errorf("sync people: %w", r.restartRound(ctx, st, err))
		}
		offset, err := peopleOffset(link)
		if err != nil {
			return fmt.Errorf("sync people: %w", err)
		}
		next := nextPeopleLink(link, page, offset)
		// A list that fits one page and equals the last one is recorded as
		// seen without writing it again.
		digest := ""
		if offset == 0 && next == "" {
			digest = listDigest(page.Items)
			if digest == state.Watermark && state.LastSuccessAt != nil {
				r.markIdle(store.Finish{Stream: st, Progress: store.Progress{Pages: 1}})
				r.pageStored()
				return nil
			}
		}
		if start {
			if since, err = r.eng.store.StartRound(ctx, st, true); err != nil {
				return err
			}
			start = false
		}
		err = r.writePage(ctx, func(tx store.Tx) error {
			p, err := r.applyPeople(ctx, tx, t, st, page.Items, offset, since)
			if err != nil {
				return err
			}
			p.Pages = 1
			if next != "" {
				return r.eng.store.CheckpointTx(ctx, tx, st, next, p)
			}
			n, err := r.eng.store.RetireUnseenTx(ctx, tx, t, st, since, graphsync.Window{})
			if err != nil {
				return err
			}
			p.Deleted = int(n.Total())
			r.countRemoved(n)
			if err := r.eng.store.SetWatermarkTx(ctx, tx, st, digest); err != nil {
				return err
			}
			return r.eng.store.FinishRoundTx(ctx, tx, store.Finish{Stream: st, Progress: p})
		})
		if err != nil {
			return fmt.Errorf("sync people: %w", err)
		}
		r.pageStored()
		if next == "" {
			return nil
		}
		link = next
	}
}

// peopleOffset is the $skip of a People request: the rank before its first
// person.
func peopleOffset(link string) (int, error) {
	u, err := url.Parse(link)
	if err != nil {
		return 0, fmt.Errorf("people link %s: %w", redact.Link(link), err)
	}
	q := u.Query()
	v := q.Get("$skip")
	if v == "" {
		v = q.Get("skip")
	}
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("people link %s: $skip %q is not a count", redact.Link(link), v)
	}
	return n, nil
}

// nextPeopleLink is Graph's nextLink when it sends one. Otherwise a full
// page means there may be more, asked for with $skip; a short page ends the
// list.
func nextPeopleLink(link string, page *graph.Page, offset int) string {
	if page.NextLink != "" {
		return page.NextLink
	}
	if len(page.Items) < graphsync.PeoplePageSize {
		return ""
	}
	u, err := url.Parse(link)
	if err != nil {
		return ""
	}
	q := u.Query()
	q.Del("skip")
	q.Set("$skip", strconv.Itoa(offset+len(page.Items)))
	if q.Get("$top") == "" && q.Get("top") == "" {
		q.Set("$top", strconv.Itoa(graphsync.PeoplePageSize))
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// applyPeople writes one page of the list; a person's rank is its position
// in the whole list, from 1.
func (r *run) applyPeople(ctx context.Context, tx store.Tx, t *graphsync.Table, st graphsync.Stream, items []json.RawMessage, offset int, seen time.Time) (store.Progress, error) {
	rows := make([]graphsync.Row, 0, len(items))
	for i, raw := range items {
		row, err := t.Map(raw, graphsync.MapContext{User: r.req.User, Position: offset + i + 1})
		if err != nil {
			id, _ := graphsync.ID(raw)
			if err := r.quarantine(ctx, tx, st, id, err, raw); err != nil {
				return store.Progress{}, err
			}
			continue
		}
		rows = append(rows, row)
	}
	u, err := r.eng.store.UpsertTx(ctx, tx, t, r.req.Conn.ID, rows, &seen)
	if err != nil {
		return store.Progress{}, err
	}
	r.count("upserted", int64(u))
	return store.Progress{Upserted: int(u)}, nil
}
