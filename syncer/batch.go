package syncer

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/graphsync/graphsync/graph"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

// prefetched holds the pages a job's batches brought back, by the link
// each answers; a run takes its page instead of asking Graph, once.
type prefetched struct {
	mu    sync.Mutex
	pages map[string]*graph.Page
}

func (p *prefetched) take(link string) *graph.Page {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	page := p.pages[link]
	delete(p.pages, link)
	return page
}

// prefetch asks Graph for the first page of every run of the job in
// $batch requests of up to graph.MaxBatch, instead of once each: the
// streams at a deltaLink, and the lists read whole each round (chats,
// joined teams, People). An idle pass of a connection with many streams
// costs a request or two instead of one per stream. Graph evaluates every
// request of a batch against its own service's limits, and graph.Batch
// charges each to its scope's gate (the mailbox's for Outlook, the
// tenant's for Teams and OneDrive). Streams in the middle of a round go on
// alone, as does any link a batch did not answer with a page (throttled,
// expired, refused): the run asks for it on its own and handles the answer
// as always.
func (j *job) prefetch(ctx context.Context, runs []*run) {
	if j.eng.cfg.NoBatch || j.req.User == "" {
		return
	}
	tok := j.token.current()
	var gets []graph.PageRequest
	for _, r := range runs {
		if j.doneThisPass(r) {
			continue
		}
		call := r.call(tok, pageOpts{})
		if link := r.openingLink(); link != "" {
			gets = append(gets, graph.PageRequest{Call: call, Link: link})
		}
		fresh := j.req.PassStart.IsZero() || slices.Contains(j.req.Fresh, r.resource)
		for st, s := range j.states {
			// A stream done this pass is not asked again (see
			// pendingStreams): a batch would spend its scope's budget on it.
			if st.Resource == r.resource && s.NextLink == "" && s.DeltaLink != "" && s.Status != store.StreamMissingScope &&
				(fresh || !r.roundDoneThisPass(s)) && j.eng.graph.CheckLink(s.DeltaLink) == nil {
				gets = append(gets, graph.PageRequest{Call: call, Link: s.DeltaLink})
			}
		}
	}
	if len(gets) < 2 {
		return
	}
	// The same batches whatever the map's order, as even as MaxBatch allows.
	slices.SortFunc(gets, func(a, b graph.PageRequest) int { return strings.Compare(a.Link, b.Link) })
	n := (len(gets) + graph.MaxBatch - 1) / graph.MaxBatch
	j.pre = &prefetched{pages: map[string]*graph.Page{}}
	for chunk := range slices.Chunk(gets, (len(gets)+n-1)/n) {
		if len(chunk) < 2 {
			break
		}
		results, err := j.eng.graph.Batch(ctx, chunk)
		if err != nil {
			// The runs ask on their own, with their usual handling.
			j.eng.log.DebugContext(ctx, "batch of first pages failed; each stream asks on its own", "connection_id", j.req.Conn.ID, "error", err)
			return
		}
		for i, res := range results {
			if res.Page != nil {
				j.pre.pages[chunk[i].Link] = res.Page
			}
		}
		batchedPages.Add(float64(len(chunk)))
	}
}

// openingLink is the first link a run reads this job, when a batch can
// bring its page: the list of a list shape, unless a round of it is in
// progress (People goes on from its checkpoint) or Graph refused it for
// want of a permission (the run asks alone and records the answer). Delta
// shapes open at their streams' links: "".
func (r *run) openingLink() string {
	if st := r.states[r.top()]; st != nil && st.Status == store.StreamMissingScope {
		return ""
	}
	if r.resource.Shape() == graphsync.RankedList {
		if st := r.states[r.stream(peopleContainer)]; st != nil && st.NextLink != "" {
			return ""
		}
	}
	return r.listLink()
}

// listLink is the list a run of a list shape reads whole each round: the
// chat list, the joined teams, the People list; "" for other shapes.
func (r *run) listLink() string {
	switch r.resource.Shape() {
	case graphsync.ChatList:
		return r.resource.Folders().Path(r.userPath(), "")
	case graphsync.ChannelTree:
		return r.resource.Outer().Path(r.userPath(), "")
	case graphsync.RankedList:
		return r.resource.Items().Path(r.userPath(), "")
	}
	return ""
}

// roundDoneThisPass says whether a stream finished a round since the pass
// began (and none is in progress).
func (j *job) roundDoneThisPass(st *store.SyncState) bool {
	return st != nil && st.NextLink == "" && st.DeltaLink != "" && st.LastSuccessAt != nil && !st.LastSuccessAt.Before(j.req.PassStart)
}
