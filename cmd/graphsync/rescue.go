package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/graphsync/graphsync/internal/config"
	"github.com/graphsync/graphsync/jobs"
	"github.com/graphsync/graphsync/store"
)

// waitingForRescue is the status of a connection's resources while one of
// its sync jobs is stranded on a worker that is gone.
const waitingForRescue = "waiting for rescue"

// strandedByConnection reads the sync jobs waiting for River to rescue
// them from a worker that is gone (only connectionID's, unless 0).
func strandedByConnection(ctx context.Context, st *store.Store, cfg *config.Config, connectionID int64, now time.Time) (map[int64][]jobs.Stranded, error) {
	all, err := jobs.StrandedSyncs(ctx, st, cfg.Jobs(), now)
	if err != nil {
		return nil, err
	}
	out := map[int64][]jobs.Stranded{}
	for _, s := range all {
		if connectionID == 0 || s.ConnectionID == connectionID {
			out[s.ConnectionID] = append(out[s.ConnectionID], s)
		}
	}
	return out, nil
}

// writeStranded explains each stranded job: why nothing syncs, and until when.
func writeStranded(w io.Writer, stranded map[int64][]jobs.Stranded, now time.Time) {
	for _, ss := range stranded {
		for _, s := range ss {
			who := fmt.Sprintf("connection %d", s.ConnectionID)
			if s.UserID != "" {
				who += " (user " + s.UserID + ")"
			}
			rescue := "about " + formatTime(&s.RescueAt)
			if !s.RescueAt.After(now) {
				rescue = "the rescuer's next pass (due since " + formatTime(&s.RescueAt) + ")"
			}
			fmt.Fprintf(w, "%s is %s: its sync job %d started at %s on worker %s, which is gone; River hands it to another worker at %s (GRAPHSYNC_RESCUE_AFTER), and no new sync of it is queued until then.\n",
				who, waitingForRescue, s.JobID, formatTime(&s.StartedAt), s.Worker, rescue)
		}
	}
}
