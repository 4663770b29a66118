package syncer

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/graphsync/graphsync/graph"
	"github.com/graphsync/graphsync/graphsync"
)

// foldersContainer names the stream of a FolderTree's hierarchy.
const foldersContainer = "folders"

// syncFolderTree brings a FolderTree (mail, contacts) up to date: the
// folder hierarchy through its delta, then, after dropping the checkpoints
// of folders that no longer exist, every folder this pass has not brought
// up to date yet through its own delta, a few at once.
func (r *run) syncFolderTree(ctx context.Context) error {
	res := r.resource
	folders := r.stream(foldersContainer)
	err := r.runDelta(ctx, r.tableStream(res.Folders(), folders, res.Folders().Path(r.userPath(), ""), graphsync.Window{}))
	if err != nil {
		return err
	}
	names, err := r.eng.store.LiveIDs(ctx, res.Folders(), r.req.Conn.ID, r.req.User)
	if err != nil {
		return err
	}
	if d := res.DefaultFolder(); d != "" {
		names = append([]string{d}, names...)
	}
	if err := r.dropStaleStreams(ctx, append(names[:len(names):len(names)], foldersContainer)); err != nil {
		return err
	}
	live := names
	if names, err = r.pendingStreams(ctx, names); err != nil {
		return err
	}
	items := res.Items()
	err = eachParallel(ctx, names, res.Parallel(), func(ctx context.Context, name string) error {
		st := r.stream(name)
		err := r.runDelta(ctx, r.tableStream(items, st, items.Path(r.userPath(), r.rowsStream(st).Container), graphsync.Window{}))
		if r.folderGone(ctx, name, err) {
			return nil
		}
		return err
	})
	if err != nil {
		return err
	}
	if items.Details != nil {
		if err := r.syncDetails(ctx, items); err != nil {
			return err
		}
	}
	return r.reconcile(ctx, items, live)
}

// folderGone says whether err is Graph's 404 for a folder the folders
// delta listed and that was deleted since: no failure of the sync. The
// next folders delta reports the deletion, which retires the folder's rows
// and its stream; until then the stream keeps its checkpoint.
func (r *run) folderGone(ctx context.Context, name string, err error) bool {
	if !graph.IsNotFound(err) || r.resource.Shape() != graphsync.FolderTree || name == r.resource.DefaultFolder() {
		return false
	}
	r.log.InfoContext(ctx, "folder deleted since the folders delta listed it; its stream retires with the next one", "stream", name)
	return true
}

// pendingStreams drops the streams that completed a round during this pass,
// so that a job resumed after a snooze goes on where it stopped instead of
// spending its request budget on streams it already brought up to date:
// with more streams than one throttling window allows requests, it would
// otherwise never reach the last ones.
func (r *run) pendingStreams(ctx context.Context, names []string) ([]string, error) {
	if r.req.PassStart.IsZero() || slices.Contains(r.req.Fresh, r.resource) {
		return names, nil
	}
	states := r.states
	if states == nil {
		all, err := r.eng.store.UserStreams(ctx, r.req.Conn.ID, r.req.User)
		if err != nil {
			return nil, err
		}
		states = byStream(all)
	}
	out := names[:0:0]
	for _, n := range names {
		if !r.roundDoneThisPass(states[r.stream(n)]) {
			out = append(out, n)
		}
	}
	return out, nil
}

// eachParallel runs fn for every name, at most parallel at once; names not
// yet started when one fails are skipped (their checkpoints are untouched,
// so the next job resumes them). It returns the first failure, or
// errContinue when the only trouble was the time budget: one stream
// reaching it is not a failure of the others.
func eachParallel(ctx context.Context, names []string, parallel int, fn func(ctx context.Context, name string) error) error {
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed, budget error
	for _, name := range names {
		mu.Lock()
		stop := failed != nil || budget != nil
		mu.Unlock()
		if stop {
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			err := fn(ctx, name)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
			case errors.Is(err, errContinue):
				budget = err
			case failed == nil:
				failed = err
			}
		})
	}
	wg.Wait()
	if failed != nil {
		return failed
	}
	return budget
}
