package jobs

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

// folderTree is an Outlook resource synced as its folder hierarchy (one
// delta stream named "folders") and each live folder's items (one delta
// stream per folder): mail and contacts.
type folderTree struct {
	foldersPath   string // e.g. /mailFolders/delta, under the user's path
	applyFolders  func(ctx context.Context, tx pgx.Tx, st store.Stream, items []json.RawMessage, seen *time.Time) (store.Progress, error)
	retireFolders func(ctx context.Context, tx pgx.Tx, since time.Time) (int64, error)
	// folders lists the streams of items to sync once the hierarchy is
	// current: the live folders, and any folder the hierarchy omits.
	folders    func(ctx context.Context) ([]string, error)
	parallel   int
	syncFolder func(ctx context.Context, name string) error
}

// syncFolderTree brings the hierarchy up to date, drops the checkpoints of
// folders that no longer exist, then syncs the folders this pass has not
// brought up to date yet, a few at once.
func (r *run) syncFolderTree(ctx context.Context, t folderTree) error {
	folders := r.stream("folders")
	err := r.runDelta(ctx, deltaStream{
		stream:  folders,
		initial: r.userPath() + t.foldersPath,
		service: graphsync.ServiceOutlook,
		apply: func(ctx context.Context, tx pgx.Tx, items []json.RawMessage, seen *time.Time) (store.Progress, error) {
			return t.applyFolders(ctx, tx, folders, items, seen)
		},
		retire: t.retireFolders,
	})
	if err != nil {
		return err
	}
	names, err := t.folders(ctx)
	if err != nil {
		return err
	}
	if err := r.dropStaleStreams(ctx, append(names[:len(names):len(names)], "folders")); err != nil {
		return err
	}
	if names, err = r.pendingStreams(ctx, names); err != nil {
		return err
	}
	return eachFolder(ctx, names, t.parallel, t.syncFolder)
}

// eachFolder runs fn for every folder id, at most parallel at once, and
// returns the first error; folders not yet started when one fails are
// skipped (their checkpoints are untouched, so the next job resumes them).
func eachFolder(ctx context.Context, ids []string, parallel int, fn func(ctx context.Context, id string) error) error {
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for _, id := range ids {
		mu.Lock()
		stop := firstErr != nil
		mu.Unlock()
		if stop {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(id string) {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(ctx, id); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}(id)
	}
	wg.Wait()
	return firstErr
}
