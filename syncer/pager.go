package syncer

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/graphsync/graphsync/graph"
	"github.com/graphsync/graphsync/graphsync"
)

// roundError ends a round that cannot go on: Graph handed a link the client
// will not follow (so it must not be stored either), or paged without end.
// The stream's round restarts from its start on a later attempt; nothing of
// the page that showed it is written.
type roundError struct{ reason string }

func (e *roundError) Error() string { return e.reason + "; the round restarts later" }

// pager guards the paging of one round within a job: every link a page
// hands on must be one the Graph client follows, a nextLink must not repeat
// one already followed in the round, and the round may not go on through
// more than MaxEmptyPages pages without an item.
type pager struct {
	r     *run
	seen  map[[sha256.Size]byte]bool
	empty int
}

// pager starts guarding a round whose first request is link.
func (r *run) pager(link string) *pager {
	p := &pager{r: r, seen: map[[sha256.Size]byte]bool{}}
	p.seen[sha256.Sum256([]byte(link))] = true
	return p
}

// check vets what page hands on before anything of it is stored.
func (p *pager) check(page *graph.Page) error {
	for _, l := range []struct{ name, link string }{{"@odata.nextLink", page.NextLink}, {"@odata.deltaLink", page.DeltaLink}} {
		if l.link == "" {
			continue
		}
		if err := p.r.eng.graph.CheckLink(l.link); err != nil {
			roundsRestarted.WithLabelValues(p.r.resource.Name(), "refused").Inc()
			return &roundError{fmt.Sprintf("Graph sent an %s the client will not follow (request-id %s): %v", l.name, page.RequestID, err)}
		}
	}
	if page.NextLink == "" {
		return nil
	}
	sum := sha256.Sum256([]byte(page.NextLink))
	if p.seen[sum] {
		roundsRestarted.WithLabelValues(p.r.resource.Name(), "loop").Inc()
		return &roundError{fmt.Sprintf("Graph sent an @odata.nextLink already followed in this round, a paging loop (request-id %s)", page.RequestID)}
	}
	p.seen[sum] = true
	if len(page.Items) > 0 || len(page.Refused) > 0 {
		p.empty = 0
		return nil
	}
	if p.empty++; p.empty > p.r.eng.cfg.MaxEmptyPages {
		roundsRestarted.WithLabelValues(p.r.resource.Name(), "empty_pages").Inc()
		return &roundError{fmt.Sprintf("Graph sent more than %d pages in a row without an item, each with a new @odata.nextLink (request-id %s)",
			p.r.eng.cfg.MaxEmptyPages, page.RequestID)}
	}
	return nil
}

// restartRound records a round that cannot go on as the stream's error and
// drops its round in progress, so that the next attempt starts the round
// over; other errors pass through unchanged.
func (r *run) restartRound(ctx context.Context, st graphsync.Stream, err error) error {
	var re *roundError
	if !errors.As(err, &re) {
		return err
	}
	r.log.WarnContext(ctx, "round cannot go on; it restarts on the next attempt", "stream", st.Container, "reason", re.reason)
	if serr := r.eng.store.RestartRound(context.WithoutCancel(ctx), st, re.Error()); serr != nil {
		return errors.Join(err, serr)
	}
	return err
}
