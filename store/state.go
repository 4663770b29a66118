package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/graphsync/graphsync/graphsync"
)

// Stream statuses.
const (
	StreamOK           = "ok"
	StreamError        = "error"
	StreamMissingScope = "missing_scope"
	StreamStopped      = "stopped"
)

// SyncState is a stream's checkpoint.
type SyncState struct {
	graphsync.Stream
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
	Window graphsync.Window
}

const stateColumns = `connection_id, user_id, resource, stream, status, coalesce(delta_link, ''), coalesce(next_link, ''),
	round_started_at, full_round, coalesce(watermark, ''), last_success_at, last_attempt_at,
	coalesce(last_error, ''), last_error_at, coalesce(missing_scope, ''), pages, upserted, deleted, resyncs, window_start, window_end`

func scanState(row pgx.Row) (*SyncState, error) {
	st := &SyncState{}
	var resource string
	var start, end *time.Time
	err := row.Scan(&st.Connection, &st.User, &resource, &st.Container, &st.Status, &st.DeltaLink, &st.NextLink,
		&st.RoundStartedAt, &st.FullRound, &st.Watermark, &st.LastSuccessAt, &st.LastAttemptAt,
		&st.LastError, &st.LastErrorAt, &st.MissingScope, &st.Pages, &st.Upserted, &st.Deleted, &st.Resyncs, &start, &end)
	if err != nil {
		return nil, err
	}
	if st.Resource, err = graphsync.ParseResource(resource); err != nil {
		return nil, fmt.Errorf("sync_state row of connection %d: %w", st.Connection, err)
	}
	if start != nil {
		st.Window.Start = *start
	}
	if end != nil {
		st.Window.End = *end
	}
	return st, nil
}

// SyncState returns a stream's checkpoint; a stream never synced has a zero
// state with status ok.
func (s *Store) SyncState(ctx context.Context, st graphsync.Stream) (*SyncState, error) {
	out, err := scanState(s.pool.QueryRow(ctx, "SELECT "+stateColumns+
		" FROM sync_state WHERE connection_id = $1 AND user_id = $2 AND resource = $3 AND stream = $4", streamArgsAny(st)...))
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
		" FROM sync_state WHERE $1 = 0 OR connection_id = $1 ORDER BY connection_id, resource, user_id, stream", connectionID)
}

// UserStreams lists the streams of one user of a connection: a sync job
// reads them once instead of one statement per stream.
func (s *Store) UserStreams(ctx context.Context, connectionID int64, user string) ([]*SyncState, error) {
	return s.syncStates(ctx, "SELECT "+stateColumns+
		" FROM sync_state WHERE connection_id = $1 AND user_id = $2 ORDER BY resource, stream", connectionID, user)
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

// StartRound records that a round begins; full says it enumerates the
// whole stream, so rows it does not see are retired at its end. It returns
// the round's start.
func (s *Store) StartRound(ctx context.Context, st graphsync.Stream, full bool) (time.Time, error) {
	return startRound(ctx, s.pool, st, full)
}

// StartRoundTx is StartRound within tx.
func (s *Store) StartRoundTx(ctx context.Context, tx Tx, st graphsync.Stream, full bool) (time.Time, error) {
	return startRound(ctx, tx, st, full)
}

func startRound(ctx context.Context, q querier, st graphsync.Stream, full bool) (time.Time, error) {
	var started time.Time
	err := q.QueryRow(ctx, `INSERT INTO sync_state (connection_id, user_id, resource, stream, round_started_at, full_round, last_attempt_at)
		VALUES ($1, $2, $3, $4, now(), $5, now())
		ON CONFLICT (connection_id, user_id, resource, stream) DO UPDATE SET round_started_at = now(), full_round = $5, last_attempt_at = now()
		RETURNING round_started_at`, append(streamArgsAny(st), full)...).Scan(&started)
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
func (s *Store) CheckpointTx(ctx context.Context, tx Tx, st graphsync.Stream, nextLink string, p Progress) error {
	_, err := tx.Exec(ctx, `INSERT INTO sync_state (connection_id, user_id, resource, stream, next_link, pages, upserted, deleted, last_attempt_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now())
		ON CONFLICT (connection_id, user_id, resource, stream) DO UPDATE SET next_link = $5,
			pages = sync_state.pages + $6, upserted = sync_state.upserted + $7, deleted = sync_state.deleted + $8,
			last_attempt_at = now()`,
		append(streamArgsAny(st), nullIfEmpty(nextLink), p.Pages, p.Upserted, p.Deleted)...)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", st, err)
	}
	return nil
}

// Finish is one stream's finished round.
type Finish struct {
	Stream    graphsync.Stream
	DeltaLink string // empty for resources without delta
	Progress  Progress
}

// FinishRoundTx stores the round's deltaLink, clears the checkpoint and any
// error, and records the success, within tx.
func (s *Store) FinishRoundTx(ctx context.Context, tx Tx, f Finish) error {
	return finishRounds(ctx, tx, []Finish{f})
}

// FinishRounds finishes several streams' rounds in one statement: an idle
// pass records every unchanged stream of a resource at once.
func (s *Store) FinishRounds(ctx context.Context, fs []Finish) error {
	return finishRounds(ctx, s.pool, fs)
}

func finishRounds(ctx context.Context, q querier, fs []Finish) error {
	if len(fs) == 0 {
		return nil
	}
	var (
		conns                    = make([]int64, len(fs))
		users, resources         = make([]string, len(fs)), make([]string, len(fs))
		names, links             = make([]string, len(fs)), make([]string, len(fs))
		pages, upserted, deleted = make([]int64, len(fs)), make([]int64, len(fs)), make([]int64, len(fs))
	)
	for i, f := range fs {
		conns[i], users[i], resources[i], names[i] = streamArgs(f.Stream)
		links[i] = f.DeltaLink
		pages[i], upserted[i], deleted[i] = int64(f.Progress.Pages), int64(f.Progress.Upserted), int64(f.Progress.Deleted)
	}
	_, err := q.Exec(ctx, `INSERT INTO sync_state (connection_id, user_id, resource, stream, delta_link, pages, upserted, deleted, last_success_at, last_attempt_at)
		SELECT c, u, r, n, nullif(l, ''), p, up, d, now(), now()
		FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::bigint[]) AS f(c, u, r, n, l, p, up, d)
		ON CONFLICT (connection_id, user_id, resource, stream) DO UPDATE SET delta_link = EXCLUDED.delta_link, next_link = NULL,
			full_round = false, round_started_at = NULL, last_error = NULL, last_error_at = NULL, missing_scope = NULL,
			status = CASE sync_state.status WHEN 'stopped' THEN 'stopped' ELSE 'ok' END,
			pages = sync_state.pages + EXCLUDED.pages, upserted = sync_state.upserted + EXCLUDED.upserted,
			deleted = sync_state.deleted + EXCLUDED.deleted, last_success_at = now(), last_attempt_at = now()`,
		conns, users, resources, names, links, pages, upserted, deleted)
	if err != nil && len(fs) == 1 {
		return fmt.Errorf("finish round of %s: %w", fs[0].Stream, err)
	}
	if err != nil {
		return fmt.Errorf("finish rounds of %s and %d other streams: %w", fs[0].Stream, len(fs)-1, err)
	}
	return nil
}

// SetWatermarkTx stores a resource-specific position (resources without
// delta: a list's digest, a chat's message position) within tx.
func (s *Store) SetWatermarkTx(ctx context.Context, tx Tx, st graphsync.Stream, watermark string) error {
	_, err := tx.Exec(ctx, `INSERT INTO sync_state (connection_id, user_id, resource, stream, watermark) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (connection_id, user_id, resource, stream) DO UPDATE SET watermark = $5`,
		append(streamArgsAny(st), watermark)...)
	if err != nil {
		return fmt.Errorf("set watermark of %s: %w", st, err)
	}
	return nil
}

// ResetStream drops a stream's delta and next links after Graph said its
// token is no longer valid, so the next round is a full one.
func (s *Store) ResetStream(ctx context.Context, st graphsync.Stream, reason string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO sync_state (connection_id, user_id, resource, stream, resyncs, last_error, last_error_at)
		VALUES ($1, $2, $3, $4, 1, $5, now())
		ON CONFLICT (connection_id, user_id, resource, stream) DO UPDATE SET delta_link = NULL, next_link = NULL,
			round_started_at = NULL, full_round = false, resyncs = sync_state.resyncs + 1, last_error = $5, last_error_at = now()`,
		append(streamArgsAny(st), CleanText(reason))...)
	if err != nil {
		return fmt.Errorf("reset %s: %w", st, err)
	}
	return nil
}

// RestartRound drops a stream's round in progress (its nextLink) and marks
// the stream failed with reason, keeping its deltaLink: the next round
// starts over from the last completed one, or from scratch when there is
// none. A round ends this way when Graph handed a link that must not be
// followed or stored, or paged without end.
func (s *Store) RestartRound(ctx context.Context, st graphsync.Stream, reason string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO sync_state (connection_id, user_id, resource, stream, status, last_error, last_error_at, last_attempt_at)
		VALUES ($1, $2, $3, $4, 'error', $5, now(), now())
		ON CONFLICT (connection_id, user_id, resource, stream) DO UPDATE SET next_link = NULL, round_started_at = NULL, full_round = false,
			status = CASE sync_state.status WHEN 'stopped' THEN 'stopped' ELSE 'error' END,
			last_error = $5, last_error_at = now(), last_attempt_at = now()`,
		append(streamArgsAny(st), CleanText(reason))...)
	if err != nil {
		return fmt.Errorf("restart round of %s: %w", st, err)
	}
	return nil
}

// DropDeltaLink forgets a stream's deltaLink and any round in progress,
// marking it failed with reason: its next round is a full one. A stored
// link the Graph client refuses to follow is dropped this way.
func (s *Store) DropDeltaLink(ctx context.Context, st graphsync.Stream, reason string) error {
	_, err := s.pool.Exec(ctx, `UPDATE sync_state SET delta_link = NULL, next_link = NULL, round_started_at = NULL, full_round = false,
			status = CASE status WHEN 'stopped' THEN 'stopped' ELSE 'error' END, last_error = $5, last_error_at = now()
		WHERE connection_id = $1 AND user_id = $2 AND resource = $3 AND stream = $4`,
		append(streamArgsAny(st), CleanText(reason))...)
	if err != nil {
		return fmt.Errorf("drop delta link of %s: %w", st, err)
	}
	return nil
}

// RecordStreamError marks a stream failed (status error, or missing_scope
// with the scope it needs) without touching its checkpoint.
func (s *Store) RecordStreamError(ctx context.Context, st graphsync.Stream, status, reason, missingScope string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO sync_state (connection_id, user_id, resource, stream, status, last_error, last_error_at, missing_scope, last_attempt_at)
		VALUES ($1, $2, $3, $4, $5, $6, now(), nullif($7, ''), now())
		ON CONFLICT (connection_id, user_id, resource, stream) DO UPDATE SET last_error = $6, last_error_at = now(),
			status = CASE sync_state.status WHEN 'stopped' THEN 'stopped' ELSE $5 END,
			missing_scope = nullif($7, ''), last_attempt_at = now()`,
		append(streamArgsAny(st), status, CleanText(reason), missingScope)...)
	if err != nil {
		return fmt.Errorf("record error of %s: %w", st, err)
	}
	return nil
}

// DropStreams removes the checkpoints of top's resource and user whose
// container is not in keep (containers that no longer exist); their
// counters move to the top-level row, so totals never go backwards when a
// folder disappears.
func (s *Store) DropStreams(ctx context.Context, top graphsync.Stream, keep []string) error {
	_, err := s.pool.Exec(ctx, `WITH gone AS (
			DELETE FROM sync_state WHERE connection_id = $1 AND user_id = $2 AND resource = $3 AND stream <> '' AND NOT stream = ANY($4)
			RETURNING pages, upserted, deleted)
		INSERT INTO sync_state (connection_id, user_id, resource, stream, pages, upserted, deleted)
		SELECT $1, $2, $3, '', coalesce(sum(pages), 0), coalesce(sum(upserted), 0), coalesce(sum(deleted), 0) FROM gone
		ON CONFLICT (connection_id, user_id, resource, stream) DO UPDATE SET pages = sync_state.pages + EXCLUDED.pages,
			upserted = sync_state.upserted + EXCLUDED.upserted, deleted = sync_state.deleted + EXCLUDED.deleted`,
		top.Connection, top.User, top.Resource.Name(), nonNil(keep))
	if err != nil {
		return fmt.Errorf("drop stale streams of %s: %w", top, err)
	}
	return nil
}

// MoveWindow sets a stream's window and drops its delta and next links: a
// token is bound to the window it was issued for, so the next round is a
// full one over the new window.
func (s *Store) MoveWindow(ctx context.Context, st graphsync.Stream, w graphsync.Window) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO sync_state (connection_id, user_id, resource, stream, window_start, window_end)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (connection_id, user_id, resource, stream) DO UPDATE SET window_start = $5, window_end = $6,
			delta_link = NULL, next_link = NULL, round_started_at = NULL, full_round = false`,
		append(streamArgsAny(st), w.Start, w.End)...)
	if err != nil {
		return fmt.Errorf("move window of %s: %w", st, err)
	}
	return nil
}

func streamArgsAny(st graphsync.Stream) []any {
	c, u, r, n := streamArgs(st)
	return []any{c, u, r, n}
}

func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// ContainerLabels names the containers of a connection's streams for
// people: per resource, user and container, the Label column of the
// resource's container table (a folder's display name, a chat's topic, a
// document library's name). Containers without a name are left out.
func (s *Store) ContainerLabels(ctx context.Context, connectionID int64) (map[graphsync.Stream]string, error) {
	out := map[graphsync.Stream]string{}
	for _, r := range graphsync.All() {
		t := r.Folders()
		if t == nil || t.Label == "" {
			continue
		}
		rows, err := s.pool.Query(ctx, "SELECT user_id, id, "+t.Label+" FROM "+t.Name+
			" WHERE connection_id = $1 AND "+t.Label+" IS NOT NULL AND "+t.Label+" <> ''", connectionID)
		if err != nil {
			return nil, fmt.Errorf("name the containers of connection %d: %w", connectionID, err)
		}
		var user, id, label string
		_, err = pgx.ForEachRow(rows, []any{&user, &id, &label}, func() error {
			out[graphsync.Stream{Connection: connectionID, User: user, Resource: r, Container: r.FolderStream(id)}] = label
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("name the containers of connection %d: %w", connectionID, err)
		}
	}
	return out, nil
}
