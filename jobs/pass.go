package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/graphsync/graphsync/store"
)

// Pass is the sync jobs that carry out one requested sync (EnqueueSync),
// one per mailbox. River keeps one sync job per mailbox pending, so a
// mailbox may have one already: a pending job that does the requested work
// is moved up and followed; one that does less (an incremental pass, fewer
// resources), or one already running (it may have read Graph before the
// request), is moved up and followed too, and the requested job is queued
// once it finishes. Poll advances it; the pass is over when every mailbox's
// requested work has run.
type Pass struct {
	svc    *Service
	client *river.Client[store.Tx]
	// Started is when the pass was requested.
	Started time.Time
	// ConnectionID is the one connection synced; 0 for every connection.
	ConnectionID int64

	mailboxes []*passMailbox
	counts    PassCounts
}

// passMailbox is one mailbox's part of a pass.
type passMailbox struct {
	args SyncArgs
	// job is the id of the job followed now; final says it carries the
	// requested work (when it ends, the mailbox is done).
	job   int64
	final bool
	state rivertype.JobState
	err   string // the last error of a job that failed for good
}

// PassCounts says what EnqueueSync did per mailbox.
type PassCounts struct {
	// Queued: a new job was inserted. MovedUp: a pending job that does the
	// requested work was made available now. Queued after: a pending or
	// running job was followed, and the requested job is queued when it
	// ends.
	Queued, MovedUp, QueuedAfter int
}

// PassStatus is a pass's state after a Poll.
type PassStatus struct {
	Mailboxes int
	// Active counts mailboxes whose work is queued or running; Retrying
	// those whose job failed and waits for River's next attempt.
	Active, Retrying int
	// Failed lists the mailboxes whose job failed for good (discarded or
	// cancelled), with the job's last error.
	Failed []string
}

// Done reports that every mailbox's requested work has run.
func (s PassStatus) Done() bool { return s.Active == 0 }

// AllQueued reports that every mailbox's requested work is queued (or
// done): nothing waits for a sync under way to end before being queued.
func (p *Pass) AllQueued() bool {
	for _, m := range p.mailboxes {
		if !m.final {
			return false
		}
	}
	return true
}

// Mailboxes is how many mailboxes the pass syncs.
func (p *Pass) Mailboxes() int { return len(p.mailboxes) }

// Counts tells how each mailbox's work was put in the queue.
func (p *Pass) Counts() PassCounts { return p.counts }

func newPass(svc *Service, client *river.Client[store.Tx], connectionID int64) *Pass {
	return &Pass{svc: svc, client: client, Started: time.Now(), ConnectionID: connectionID}
}

// add queues the requested args of each mailbox.
func (p *Pass) add(ctx context.Context, args []SyncArgs) error {
	for chunk := range slices.Chunk(args, 1000) {
		params := make([]river.InsertManyParams, len(chunk))
		for i, a := range chunk {
			params[i] = river.InsertManyParams{Args: a}
		}
		res, err := p.client.InsertMany(ctx, params)
		if err != nil {
			return fmt.Errorf("insert sync jobs: %w", err)
		}
		for i, r := range res {
			m := &passMailbox{args: chunk[i]}
			if err := p.follow(ctx, m, r); err != nil {
				return err
			}
			switch {
			case !m.final:
				p.counts.QueuedAfter++
			case r.UniqueSkippedAsDuplicate:
				p.counts.MovedUp++
			default:
				p.counts.Queued++
			}
			p.mailboxes = append(p.mailboxes, m)
		}
	}
	return nil
}

// follow makes m follow the job an insert returned: the new job, or the
// mailbox's job that was already there, moved up.
func (p *Pass) follow(ctx context.Context, m *passMailbox, r *rivertype.JobInsertResult) error {
	m.job, m.state, m.final = r.Job.ID, r.Job.State, true
	if !r.UniqueSkippedAsDuplicate {
		return nil
	}
	var existing SyncArgs
	if err := json.Unmarshal(r.Job.EncodedArgs, &existing); err != nil {
		return fmt.Errorf("read sync job %d: %w", r.Job.ID, err)
	}
	m.final = r.Job.State != rivertype.JobStateRunning && covers(existing, m.args)
	if r.Job.State == rivertype.JobStateRunning {
		return nil
	}
	// Scheduled (spread over the scheduler's period, or snoozed), retrying,
	// or already available: make it available now.
	row, err := p.client.JobRetry(ctx, r.Job.ID)
	if errors.Is(err, river.ErrNotFound) {
		// Finished and cleaned meanwhile: queue the requested job at once.
		m.final, m.state = false, rivertype.JobStateCompleted
		return nil
	}
	if err != nil {
		return fmt.Errorf("move sync job %d up: %w", r.Job.ID, err)
	}
	m.state = row.State
	return nil
}

// covers reports whether a job with args have does all the work of want.
func covers(have, want SyncArgs) bool {
	if want.Thorough && !have.Thorough {
		return false
	}
	if len(have.Resources) == 0 {
		return true
	}
	if len(want.Resources) == 0 {
		return false
	}
	for _, r := range want.Resources {
		if !slices.Contains(have.Resources, r) {
			return false
		}
	}
	return true
}

// finished reports a job state after which the job will not run again.
func finished(s rivertype.JobState) bool {
	switch s {
	case rivertype.JobStateCompleted, rivertype.JobStateCancelled, rivertype.JobStateDiscarded:
		return true
	}
	return false
}

// Poll reads the state of the jobs followed, queues the requested job of
// each mailbox whose earlier job ended, and says where the pass stands.
func (p *Pass) Poll(ctx context.Context) (PassStatus, error) {
	ids := make([]int64, 0, len(p.mailboxes))
	for _, m := range p.mailboxes {
		if !(m.final && finished(m.state)) {
			ids = append(ids, m.job)
		}
	}
	rows := map[int64]*rivertype.JobRow{}
	for chunk := range slices.Chunk(ids, 1000) {
		res, err := p.client.JobList(ctx, river.NewJobListParams().IDs(chunk...).First(len(chunk)))
		if err != nil {
			return PassStatus{}, fmt.Errorf("read sync jobs: %w", err)
		}
		for _, j := range res.Jobs {
			rows[j.ID] = j
		}
	}
	var again []*passMailbox
	for _, m := range p.mailboxes {
		if m.final && finished(m.state) {
			continue
		}
		row, ok := rows[m.job]
		if !ok {
			// River's cleaner removed a finished job: it ran.
			m.state = rivertype.JobStateCompleted
		} else {
			m.state = row.State
			if len(row.Errors) > 0 {
				m.err = row.Errors[len(row.Errors)-1].Error
			}
		}
		if !m.final && finished(m.state) {
			again = append(again, m)
		}
	}
	for _, m := range again {
		res, err := p.client.Insert(ctx, m.args, nil)
		if err != nil {
			return PassStatus{}, fmt.Errorf("insert sync job: %w", err)
		}
		if err := p.follow(ctx, m, res); err != nil {
			return PassStatus{}, err
		}
	}
	st := PassStatus{Mailboxes: len(p.mailboxes)}
	for _, m := range p.mailboxes {
		switch {
		case !m.final || !finished(m.state):
			st.Active++
			if m.state == rivertype.JobStateRetryable {
				st.Retrying++
			}
		case m.state != rivertype.JobStateCompleted:
			who := fmt.Sprintf("connection %d", m.args.ConnectionID)
			if m.args.UserID != "" {
				who += " user " + m.args.UserID
			}
			st.Failed = append(st.Failed, fmt.Sprintf("%s: sync job %s: %s", who, m.state, m.err))
		}
	}
	return st, nil
}
