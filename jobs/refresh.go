package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/store"
)

// RefreshArgs refreshes one connection's access token.
type RefreshArgs struct {
	ConnectionID int64 `json:"connection_id" river:"unique"`
}

// Kind is River's name for the job.
func (RefreshArgs) Kind() string { return "graphsync_refresh_token" }

// InsertOpts puts refreshes on their own queue, one per connection at a time.
func (RefreshArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueTokens, UniqueOpts: uniqueWhileActive, MaxAttempts: 10}
}

type refreshWorker struct {
	river.WorkerDefaults[RefreshArgs]
	svc *Service
}

func (w *refreshWorker) Timeout(*river.Job[RefreshArgs]) time.Duration { return time.Minute }

func (w *refreshWorker) Work(ctx context.Context, job *river.Job[RefreshArgs]) error {
	_, err := w.svc.refresh(ctx, job.Args.ConnectionID, "")
	var cp *clientProblemError
	if errors.As(err, &cp) {
		// The app's credentials are wrong: retrying per connection would only
		// multiply one operator problem. Try again when it may be fixed.
		return river.JobSnooze(5 * time.Minute)
	}
	if errors.Is(err, errNotActive) {
		return nil
	}
	return err
}

var errNotActive = errors.New("connection is not active")

// clientProblemError is an invalid_client or unauthorized_client answer: the
// operator's app registration or secret is at fault, not the connection.
type clientProblemError struct{ err *graphsync.TokenError }

func (e *clientProblemError) Error() string { return "app credentials refused: " + e.err.Error() }
func (e *clientProblemError) Unwrap() error { return e.err }

// reauthError says a connection needs its user to sign in again.
type reauthError struct{ err *graphsync.TokenError }

func (e *reauthError) Error() string { return "connection needs re-authentication: " + e.err.Error() }
func (e *reauthError) Unwrap() error { return e.err }

func (s *Service) authFor(tenant string) (*graphsync.Auth, error) {
	s.authMu.Lock()
	defer s.authMu.Unlock()
	if a, ok := s.auths[tenant]; ok {
		return a, nil
	}
	cfg := s.cfg.Auth
	cfg.Tenant = tenant
	a, err := graphsync.NewAuth(cfg)
	if err != nil {
		return nil, err
	}
	s.auths[tenant] = a
	return a, nil
}

// accessToken returns a usable access token for a connection, refreshing it
// first when it expires within a minute.
func (s *Service) accessToken(ctx context.Context, connectionID int64) (string, error) {
	tok, err := s.store.Tokens(ctx, connectionID)
	if err != nil {
		return "", err
	}
	if tok.AccessToken != "" && time.Until(tok.Expiry) > time.Minute {
		return tok.AccessToken, nil
	}
	return s.refresh(ctx, connectionID, "")
}

// refresh obtains a new access token for a connection with its row locked,
// so that however many workers race, one calls the token endpoint and the
// others reuse its result. rejected names an access token Graph refused
// (401): it is replaced even if not near expiry, unless another worker has
// replaced it already. The rotated refresh token is stored in the same
// transaction as the access token.
func (s *Service) refresh(ctx context.Context, connectionID int64, rejected string) (string, error) {
	var access string
	var outcome string
	err := s.store.Tx(ctx, func(tx pgx.Tx) error {
		conn, tok, err := s.store.LockTokensTx(ctx, tx, connectionID)
		if err != nil {
			return err
		}
		if conn.Status != store.StatusActive {
			return fmt.Errorf("refresh token of connection %d: %w (status %s)", connectionID, errNotActive, conn.Status)
		}
		fresh := tok.AccessToken != "" && time.Until(tok.Expiry) > s.cfg.RefreshAhead
		if fresh && (rejected == "" || tok.AccessToken != rejected) {
			access = tok.AccessToken
			outcome = "skipped"
			return nil
		}
		if rejected != "" && tok.AccessToken != rejected && tok.AccessToken != "" && time.Until(tok.Expiry) > time.Minute {
			access = tok.AccessToken // another worker refreshed after the 401
			outcome = "skipped"
			return nil
		}
		auth, err := s.authFor(conn.TenantID)
		if err != nil {
			return err
		}
		var nt *graphsync.Token
		if conn.Kind == store.KindApplication {
			nt, err = auth.ClientCredentials(ctx)
		} else {
			if tok.RefreshToken == "" {
				return s.markReauthTx(ctx, tx, conn, &graphsync.TokenError{Code: "invalid_grant", Description: "no refresh token stored"})
			}
			nt, err = auth.Refresh(ctx, tok.RefreshToken, nil)
		}
		var te *graphsync.TokenError
		if errors.As(err, &te) {
			switch {
			case te.NeedsReauth():
				outcome = "invalid_grant"
				return s.markReauthTx(ctx, tx, conn, te)
			case te.ClientProblem():
				outcome = "invalid_client"
				s.reportClientProblem(ctx, te)
				return &clientProblemError{err: te}
			}
		}
		if err != nil {
			outcome = refreshFailure(err)
			return fmt.Errorf("refresh token of connection %d: %w", connectionID, err)
		}
		if err := s.store.SaveTokensTx(ctx, tx, connectionID, store.Tokens{
			AccessToken: nt.AccessToken, RefreshToken: nt.RefreshToken, Expiry: nt.Expiry,
		}); err != nil {
			return err
		}
		access = nt.AccessToken
		outcome = "ok"
		// The next refresh, scheduled ahead of expiry in the same transaction.
		if client, cerr := clientFrom(ctx); cerr == nil {
			at := nt.Expiry.Add(-s.cfg.RefreshAhead)
			if _, err := client.InsertTx(ctx, tx, RefreshArgs{ConnectionID: connectionID}, &river.InsertOpts{ScheduledAt: at}); err != nil {
				return fmt.Errorf("schedule next refresh of connection %d: %w", connectionID, err)
			}
		}
		return nil
	})
	if outcome != "" {
		tokenRefreshes.WithLabelValues(outcome).Inc()
	}
	var re *reauthError
	if errors.As(err, &re) {
		return "", err
	}
	if err != nil {
		return "", err
	}
	if outcome == "ok" {
		s.log.InfoContext(ctx, "refreshed access token", "connection_id", connectionID)
	}
	return access, nil
}

// markReauthTx records that a connection's user must sign in again, with the
// AADSTS code and a plain-language reason, and commits that (by returning
// nil to the transaction) while the caller still sees a reauthError.
func (s *Service) markReauthTx(ctx context.Context, tx pgx.Tx, conn *store.Connection, te *graphsync.TokenError) error {
	code := te.Code
	if n := te.AADSTS(); n != 0 {
		code = fmt.Sprintf("AADSTS%d", n)
	}
	if err := s.store.SetStatusTx(ctx, tx, conn.ID, store.StatusNeedsReauth, code, te.Reason()); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	s.log.WarnContext(ctx, "connection needs re-authentication", "connection_id", conn.ID, "code", code, "reason", te.Reason())
	return &reauthError{err: te}
}

// reportClientProblem logs an app-credential failure loudly, once per code
// per hour in this process, instead of once per connection.
func (s *Service) reportClientProblem(ctx context.Context, te *graphsync.TokenError) {
	key := fmt.Sprintf("%s/%d", te.Code, te.AADSTS())
	s.clientProblemMu.Lock()
	last, seen := s.clientProblemSeen[key]
	if !seen || time.Since(last) > time.Hour {
		s.clientProblemSeen[key] = time.Now()
	}
	s.clientProblemMu.Unlock()
	appCredentialsOK.Set(0)
	if seen && time.Since(last) <= time.Hour {
		return
	}
	s.log.ErrorContext(ctx, "the identity platform refuses graphsync's app credentials; every connection is affected until the operator fixes GRAPHSYNC_CLIENT_ID / GRAPHSYNC_CLIENT_SECRET",
		"code", te.Code, "aadsts", te.AADSTS(), "reason", te.Reason())
}

func clientFrom(ctx context.Context) (c *river.Client[pgx.Tx], err error) {
	defer func() {
		if recover() != nil {
			err = errors.New("no river client in context")
		}
	}()
	return river.ClientFromContext[pgx.Tx](ctx), nil
}
