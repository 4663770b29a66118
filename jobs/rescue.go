package jobs

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/graphsync/graphsync/store"
)

// Stranded is a sync job still marked running past its timeout, which a
// live worker never lets a job do: the worker that took it is gone (killed,
// its host lost). Its mailbox is not synced, and new syncs of it are not
// queued (one per mailbox at a time), until River's rescuer hands the job to
// another worker, at about RescueAt.
type Stranded struct {
	JobID        int64
	ConnectionID int64
	UserID       string
	Worker       string // River's id of the worker that took it
	StartedAt    time.Time
	RescueAt     time.Time
}

// StrandedSyncs lists the sync jobs waiting for rescue, read through
// River's API. cfg gives the job duration and rescue delay the workers run
// with (their defaults when zero).
func StrandedSyncs(ctx context.Context, st *store.Store, cfg Config, now time.Time) ([]Stranded, error) {
	client, err := river.NewClient(st.RiverDriver(), &river.Config{})
	if err != nil {
		return nil, fmt.Errorf("river client: %w", err)
	}
	maxJob := cmp.Or(cfg.MaxJobDuration, DefaultMaxJobDuration)
	timeout, rescue := JobTimeout(maxJob), cmp.Or(cfg.RescueAfter, DefaultRescueAfter(maxJob))
	var out []Stranded
	params := river.NewJobListParams().Kinds(SyncArgs{}.Kind()).States(rivertype.JobStateRunning).First(1000)
	for {
		res, err := client.JobList(ctx, params)
		if err != nil {
			return nil, fmt.Errorf("list running sync jobs: %w", err)
		}
		for _, j := range res.Jobs {
			if j.AttemptedAt == nil || now.Sub(*j.AttemptedAt) < timeout {
				continue
			}
			var args SyncArgs
			if err := json.Unmarshal(j.EncodedArgs, &args); err != nil {
				return nil, fmt.Errorf("sync job %d: decode its arguments: %w", j.ID, err)
			}
			s := Stranded{JobID: j.ID, ConnectionID: args.ConnectionID, UserID: args.UserID,
				StartedAt: *j.AttemptedAt, RescueAt: j.AttemptedAt.Add(rescue)}
			if n := len(j.AttemptedBy); n > 0 {
				s.Worker = j.AttemptedBy[n-1]
			}
			out = append(out, s)
		}
		if len(res.Jobs) == 0 || res.LastCursor == nil {
			return out, nil
		}
		params = params.After(res.LastCursor)
	}
}
