package syncer

import (
	"context"
	"slices"
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

// prefetch asks Graph for the first page of every stream of the mailbox
// that sits at a deltaLink, up to graph.MaxBatch in one $batch, instead of
// once per stream: an idle pass of a mailbox with many folders costs a
// request or two instead of one per folder. Only the mailbox's Outlook
// streams share a throttling scope and a token; other resources and
// streams in the middle of a round go on alone, as does any link a batch
// did not answer with a page (throttled, expired, refused): the run asks
// for it on its own and handles the answer as always.
func (j *job) prefetch(ctx context.Context, runs []*run) {
	if j.eng.cfg.NoBatch || j.req.User == "" {
		return
	}
	var links []string
	var call graph.Call
	for _, r := range runs {
		if !r.resource.Service().PerMailbox() || !batchable(r.resource.Shape()) || j.doneThisPass(r) {
			continue
		}
		fresh := j.req.PassStart.IsZero() || slices.Contains(j.req.Fresh, r.resource)
		for st, s := range j.states {
			// A stream done this pass is not asked again (see
			// pendingStreams): a batch would spend the mailbox's budget on it.
			if st.Resource == r.resource && s.NextLink == "" && s.DeltaLink != "" && s.Status != store.StreamMissingScope &&
				(fresh || !r.roundDoneThisPass(s)) && j.eng.graph.CheckLink(s.DeltaLink) == nil {
				links = append(links, s.DeltaLink)
				call = r.call(j.token.current(), pageOpts{})
			}
		}
	}
	if len(links) < 2 {
		return
	}
	slices.Sort(links) // the same batches whatever the map's order
	call.Resource = "batch"
	j.pre = &prefetched{pages: map[string]*graph.Page{}}
	for chunk := range slices.Chunk(links, graph.MaxBatch) {
		if len(chunk) < 2 {
			break
		}
		results, err := j.eng.graph.Batch(ctx, call, chunk)
		if err != nil {
			// The runs ask on their own, with their usual handling.
			j.eng.log.DebugContext(ctx, "batch of delta links failed; each stream asks on its own", "connection_id", j.req.Conn.ID, "error", err)
			return
		}
		for i, res := range results {
			if res.Page != nil {
				j.pre.pages[chunk[i]] = res.Page
			}
		}
		batchedPages.Add(float64(len(chunk)))
	}
}

// roundDoneThisPass says whether a stream finished a round since the pass
// began (and none is in progress).
func (j *job) roundDoneThisPass(st *store.SyncState) bool {
	return st != nil && st.NextLink == "" && st.DeltaLink != "" && st.LastSuccessAt != nil && !st.LastSuccessAt.Before(j.req.PassStart)
}

// batchable says whether a shape's streams read delta links a batch can
// carry: mail and contacts folders, the calendar.
func batchable(s graphsync.Shape) bool {
	return s == graphsync.FolderTree || s == graphsync.WindowedDelta
}
