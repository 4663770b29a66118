package syncer

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/graphsync/graphsync/graph"
	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

// siteListContainer checkpoints the sites and libraries lists (library
// streams are "drives/{id}", site states "site {url or id}").
const siteListContainer = "list"

// syncSites syncs a SiteTree: the selected sites and their libraries,
// read whole (neither has a delta), then each library's items through its
// drive delta, as a OneDrive's.
func (r *run) syncSites(ctx context.Context) error {
	sites, err := r.readSites(ctx)
	if err != nil {
		return fmt.Errorf("sync sites: %w", err)
	}
	live, err := r.storeLists(ctx, siteListContainer, sites)
	if err != nil {
		return fmt.Errorf("sync sites: %w", err)
	}
	keep := []string{siteListContainer}
	for _, ref := range r.eng.cfg.Sites {
		keep = append(keep, graphsync.SiteStream(ref))
	}
	var libraries []string
	for id := range live {
		libraries = append(libraries, r.resource.FolderStream(id))
	}
	if err := r.dropStaleStreams(ctx, append(keep, libraries...)); err != nil {
		return err
	}
	t := r.resource.Items()
	err = eachParallel(ctx, libraries, r.resource.Parallel(), func(ctx context.Context, c string) error {
		err := r.runDelta(ctx, r.tableStream(t, r.stream(c), t.Path(r.userPath(), c), graphsync.Window{}))
		if graph.IsNotFound(err) || graph.IsForbidden(err) {
			// Gone or closed since the lists were read: the next pass's
			// lists retire it.
			r.log.WarnContext(ctx, "library no longer readable; skipping its items", "drive_id", c, "error", err)
			return nil
		}
		return err
	})
	if err != nil {
		return err
	}
	if err := r.syncDetails(ctx, t); err != nil {
		return err
	}
	return r.reconcile(ctx, t, libraries)
}

// readSites resolves each selected site and lists its libraries. A site
// not found or closed to the connection is recorded as its stream's state
// and left out, so its rows are retired; the other sites go on.
func (r *run) readSites(ctx context.Context) ([]listed, error) {
	var out []listed
	for _, ref := range r.eng.cfg.Sites {
		st := r.stream(graphsync.SiteStream(ref))
		site, err := r.getObject(ctx, ref.GraphPath())
		var id string
		if err == nil {
			var ok bool
			if id, ok = graphsync.ID(site); !ok || id == "" {
				// Stored through the quarantine by storeLists.
				out = append(out, listed{raw: site})
				continue
			}
			var libs []json.RawMessage
			libs, err = r.listAll(ctx, r.resource.Folders().Path("", id))
			if err == nil {
				out = append(out, listed{id: id, raw: site, children: libs})
				r.markIdle(store.Finish{Stream: st})
				continue
			}
		}
		var state string
		switch {
		case graph.IsNotFound(err):
			state = "site not found: "
		case graph.IsForbidden(err):
			state = "access denied to the site: "
		default:
			return nil, fmt.Errorf("read site %s: %w", ref, err)
		}
		r.log.WarnContext(ctx, "site not readable; leaving it out", "site", ref.String(), "error", err)
		if err := r.eng.store.RecordStreamError(ctx, st, store.StreamError, state+err.Error(), ""); err != nil {
			return nil, err
		}
	}
	return out, nil
}
