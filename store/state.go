package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Stream names one checkpointed unit of sync: a resource of a connection, or
// a container within it (a mail folder, a chat).
type Stream struct {
	ConnectionID int64
	Resource     string
	Name         string // container id; empty for the resource's top level
}

func (s Stream) String() string {
	if s.Name == "" {
		return fmt.Sprintf("connection %d %s", s.ConnectionID, s.Resource)
	}
	return fmt.Sprintf("connection %d %s %s", s.ConnectionID, s.Resource, s.Name)
}

// Stream statuses.
const (
	StreamOK           = "ok"
	StreamError        = "error"
	StreamMissingScope = "missing_scope"
	StreamStopped      = "stopped"
)

// SyncState is a stream's checkpoint.
type SyncState struct {
	Stream
	Status         string
	DeltaLink      string
	NextLink       string
	RoundStartedAt *time.Time
	FullRound      bool
	Watermark      string
	LastSuccessAt  *time.Time
	LastAttemptAt  *time.Time
	LastError      string
	LastErrorAt    *time.Time
	MissingScope   string
	Pages          int64
	Upserted       int64
	Deleted        int64
	Resyncs        int64
	// Window is the calendarView window of a windowed stream's delta token.
	Window Window
}

const stateColumns = `connection_id, resource, stream, status, coalesce(delta_link, ''), coalesce(next_link, ''),
	round_started_at, full_round, coalesce(watermark, ''), last_success_at, last_attempt_at,
	coalesce(last_error, ''), last_error_at, coalesce(missing_scope, ''), pages, upserted, deleted, resyncs, window_start, window_end`

func scanState(row pgx.Row) (*SyncState, error) {
	st := &SyncState{}
	var start, end *time.Time
	err := row.Scan(&st.ConnectionID, &st.Resource, &st.Name, &st.Status, &st.DeltaLink, &st.NextLink,
		&st.RoundStartedAt, &st.FullRound, &st.Watermark, &st.LastSuccessAt, &st.LastAttemptAt,
		&st.LastError, &st.LastErrorAt, &st.MissingScope, &st.Pages, &st.Upserted, &st.Deleted, &st.Resyncs, &start, &end)
	if start != nil {
		st.Window.Start = *start
	}
	if end != nil {
		st.Window.End = *end
	}
	return st, err
}

// SyncState returns a stream's checkpoint; a stream never synced has a zero
// state with status ok.
func (s *Store) SyncState(ctx context.Context, q Querier, st Stream) (*SyncState, error) {
	out, err := scanState(q.QueryRow(ctx, "SELECT "+stateColumns+
		" FROM sync_state WHERE connection_id = $1 AND resource = $2 AND stream = $3", st.ConnectionID, st.Resource, st.Name))
	if errors.Is(err, pgx.ErrNoRows) {
		return &SyncState{Stream: st, Status: StreamOK}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read sync state of %s: %w", st, err)
	}
	return out, nil
}

// SyncStates lists a connection's streams (every connection's when id is 0).
func (s *Store) SyncStates(ctx context.Context, connectionID int64) ([]*SyncState, error) {
	return s.syncStates(ctx, "SELECT "+stateColumns+
		" FROM sync_state WHERE $1 = 0 OR connection_id = $1 ORDER BY connection_id, resource, stream", connectionID)
}

// StreamStates lists the streams of a connection whose names begin with
// prefix (one user's streams of an application connection; all of them
// when prefix is empty): a sync job reads them once instead of one
// statement per stream.
func (s *Store) StreamStates(ctx context.Context, connectionID int64, prefix string) ([]*SyncState, error) {
	return s.syncStates(ctx, "SELECT "+stateColumns+
		" FROM sync_state WHERE connection_id = $1 AND starts_with(stream, $2) ORDER BY resource, stream", connectionID, prefix)
}

func (s *Store) syncStates(ctx context.Context, query string, args ...any) ([]*SyncState, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list sync state: %w", err)
	}
	defer rows.Close()
	var out []*SyncState
	for rows.Next() {
		st, err := scanState(rows)
		if err != nil {
			return nil, fmt.Errorf("list sync state: %w", err)
		}
		out = append(out, st)
	}
	return out, rows.Err()
}

// StartRoundTx records that a round begins; full says it enumerates the
// whole stream, so rows it does not see are retired at its end.
func (s *Store) StartRoundTx(ctx context.Context, q Querier, st Stream, full bool) (time.Time, error) {
	var started time.Time
	err := q.QueryRow(ctx, `INSERT INTO sync_state (connection_id, resource, stream, round_started_at, full_round, last_attempt_at)
		VALUES ($1, $2, $3, now(), $4, now())
		ON CONFLICT (connection_id, resource, stream) DO UPDATE SET round_started_at = now(), full_round = $4, last_attempt_at = now()
		RETURNING round_started_at`, st.ConnectionID, st.Resource, st.Name, full).Scan(&started)
	if err != nil {
		return time.Time{}, fmt.Errorf("start round of %s: %w", st, err)
	}
	return started, nil
}

// Progress is what one page contributed.
type Progress struct {
	Pages, Upserted, Deleted int
}

// CheckpointTx stores the nextLink of a round in progress, in the same
// transaction as the page's rows, so a crash resumes at the next page.
func (s *Store) CheckpointTx(ctx context.Context, q Querier, st Stream, nextLink string, p Progress) error {
	_, err := q.Exec(ctx, `INSERT INTO sync_state (connection_id, resource, stream, next_link, pages, upserted, deleted, last_attempt_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, now())
		ON CONFLICT (connection_id, resource, stream) DO UPDATE SET next_link = $4,
			pages = sync_state.pages + $5, upserted = sync_state.upserted + $6, deleted = sync_state.deleted + $7,
			last_attempt_at = now()`,
		st.ConnectionID, st.Resource, st.Name, nullIfEmpty(nextLink), p.Pages, p.Upserted, p.Deleted)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", st, err)
	}
	return nil
}

// FinishRoundTx stores the round's deltaLink (empty for resources without
// delta), clears the checkpoint and any error, and records the success.
func (s *Store) FinishRoundTx(ctx context.Context, q Querier, st Stream, deltaLink string, p Progress) error {
	return s.FinishRoundsTx(ctx, q, []Finish{{Stream: st, DeltaLink: deltaLink, Progress: p}})
}

// Finish is one stream's finished round.
type Finish struct {
	Stream    Stream
	DeltaLink string
	Progress  Progress
}

// FinishRoundsTx finishes several streams' rounds in one statement: an
// idle pass records every stream of a resource at once.
func (s *Store) FinishRoundsTx(ctx context.Context, q Querier, fs []Finish) error {
	if len(fs) == 0 {
		return nil
	}
	var (
		conns                    = make([]int64, len(fs))
		resources, names, links  = make([]string, len(fs)), make([]string, len(fs)), make([]string, len(fs))
		pages, upserted, deleted = make([]int64, len(fs)), make([]int64, len(fs)), make([]int64, len(fs))
	)
	for i, f := range fs {
		conns[i], resources[i], names[i], links[i] = f.Stream.ConnectionID, f.Stream.Resource, f.Stream.Name, f.DeltaLink
		pages[i], upserted[i], deleted[i] = int64(f.Progress.Pages), int64(f.Progress.Upserted), int64(f.Progress.Deleted)
	}
	_, err := q.Exec(ctx, `INSERT INTO sync_state (connection_id, resource, stream, delta_link, pages, upserted, deleted, last_success_at, last_attempt_at)
		SELECT c, r, n, nullif(l, ''), p, u, d, now(), now() FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[]) AS f(c, r, n, l, p, u, d)
		ON CONFLICT (connection_id, resource, stream) DO UPDATE SET delta_link = EXCLUDED.delta_link, next_link = NULL,
			full_round = false, round_started_at = NULL, last_error = NULL, last_error_at = NULL, missing_scope = NULL,
			status = CASE sync_state.status WHEN 'stopped' THEN 'stopped' ELSE 'ok' END,
			pages = sync_state.pages + EXCLUDED.pages, upserted = sync_state.upserted + EXCLUDED.upserted,
			deleted = sync_state.deleted + EXCLUDED.deleted, last_success_at = now(), last_attempt_at = now()`,
		conns, resources, names, links, pages, upserted, deleted)
	if err != nil && len(fs) == 1 {
		return fmt.Errorf("finish round of %s: %w", fs[0].Stream, err)
	}
	if err != nil {
		return fmt.Errorf("finish rounds of %s and %d other streams: %w", fs[0].Stream, len(fs)-1, err)
	}
	return nil
}

// SetWatermarkTx stores a resource-specific position (resources without delta).
func (s *Store) SetWatermarkTx(ctx context.Context, q Querier, st Stream, watermark string) error {
	_, err := q.Exec(ctx, `INSERT INTO sync_state (connection_id, resource, stream, watermark) VALUES ($1, $2, $3, $4)
		ON CONFLICT (connection_id, resource, stream) DO UPDATE SET watermark = $4`,
		st.ConnectionID, st.Resource, st.Name, watermark)
	if err != nil {
		return fmt.Errorf("set watermark of %s: %w", st, err)
	}
	return nil
}

// ResetStream drops a stream's delta and next links after Graph said its
// token is no longer valid, so the next round is a full one.
func (s *Store) ResetStream(ctx context.Context, st Stream, reason string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO sync_state (connection_id, resource, stream, resyncs, last_error, last_error_at)
		VALUES ($1, $2, $3, 1, $4, now())
		ON CONFLICT (connection_id, resource, stream) DO UPDATE SET delta_link = NULL, next_link = NULL,
			round_started_at = NULL, full_round = false, resyncs = sync_state.resyncs + 1, last_error = $4, last_error_at = now()`,
		st.ConnectionID, st.Resource, st.Name, reason)
	if err != nil {
		return fmt.Errorf("reset %s: %w", st, err)
	}
	return nil
}

// RecordStreamError marks a stream failed (status error, or missing_scope
// with the scope it needs) without touching its checkpoint.
func (s *Store) RecordStreamError(ctx context.Context, st Stream, status, reason, missingScope string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO sync_state (connection_id, resource, stream, status, last_error, last_error_at, missing_scope, last_attempt_at)
		VALUES ($1, $2, $3, $4, $5, now(), nullif($6, ''), now())
		ON CONFLICT (connection_id, resource, stream) DO UPDATE SET last_error = $5, last_error_at = now(),
			status = CASE sync_state.status WHEN 'stopped' THEN 'stopped' ELSE $4 END,
			missing_scope = nullif($6, ''), last_attempt_at = now()`,
		st.ConnectionID, st.Resource, st.Name, status, reason, missingScope)
	if err != nil {
		return fmt.Errorf("record error of %s: %w", st, err)
	}
	return nil
}

// DeleteStreamsTx removes checkpoints of a connection's resource whose
// stream is not in keep (containers that no longer exist).
func (s *Store) DeleteStreamsTx(ctx context.Context, q Querier, connectionID int64, resource, prefix string, keep []string) error {
	// Their counters move to the resource's top-level row, so totals never
	// go backwards when a folder disappears. Only streams named with prefix
	// are considered (one user's streams of an application connection).
	_, err := q.Exec(ctx, `WITH gone AS (
			DELETE FROM sync_state WHERE connection_id = $1 AND resource = $2 AND stream <> '' AND NOT stream = ANY($3)
				AND starts_with(stream, $4)
			RETURNING pages, upserted, deleted)
		INSERT INTO sync_state (connection_id, resource, stream, pages, upserted, deleted)
		SELECT $1, $2, '', coalesce(sum(pages), 0), coalesce(sum(upserted), 0), coalesce(sum(deleted), 0) FROM gone
		ON CONFLICT (connection_id, resource, stream) DO UPDATE SET pages = sync_state.pages + EXCLUDED.pages,
			upserted = sync_state.upserted + EXCLUDED.upserted, deleted = sync_state.deleted + EXCLUDED.deleted`,
		connectionID, resource, nonNil(keep), prefix)
	if err != nil {
		return fmt.Errorf("delete stale streams of connection %d %s: %w", connectionID, resource, err)
	}
	return nil
}

func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
