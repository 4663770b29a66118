package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/graphsync/graphsync/store"
	"github.com/graphsync/graphsync/token"
)

// tokenBody is a token handed to an app.
type tokenBody struct {
	AccessToken string    `json:"access_token"`
	TokenType   string    `json:"token_type"`
	ExpiresAt   time.Time `json:"expires_at"`
	Resource    string    `json:"resource"`
}

// token hands out a usable access token of a connection, refreshed
// through the same row-locked refresh as the jobs.
func (a *API) token(w http.ResponseWriter, r *http.Request, q *request) {
	kind := token.Graph
	if v := r.URL.Query().Get("resource"); v != "" {
		k, err := token.ParseKind(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad_resource", err.Error())
			return
		}
		kind = k
	}
	t, err := a.cfg.Tokens.Issue(r.Context(), q.conn, kind)
	if err != nil {
		tokenRequests.WithLabelValues(string(kind), "error").Inc()
		a.tokenError(r.Context(), w, q.conn, err)
		return
	}
	outcome := "cached"
	if t.Refreshed {
		outcome = "refreshed"
	}
	tokenRequests.WithLabelValues(string(kind), outcome).Inc()
	writeJSON(w, http.StatusOK, tokenBody{AccessToken: t.AccessToken, TokenType: "Bearer", ExpiresAt: t.Expiry.UTC(), Resource: string(kind)})
}

// tokenError answers a failure to hand out a token with a code an app can
// branch on: needs_reauth (send the user through a connect session again),
// needs_admin, disabled, no_sharepoint, and the rest.
func (a *API) tokenError(ctx context.Context, w http.ResponseWriter, id int64, err error) {
	var reauth *token.ReauthError
	var tenant *token.TenantError
	var client *token.ClientProblemError
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "connection_not_found", fmt.Sprintf("connection %d does not exist", id))
	case errors.As(err, &reauth):
		writeError(w, http.StatusConflict, store.StatusNeedsReauth, "the connection's user must sign in again: "+reauth.Err.Reason())
	case errors.As(err, &tenant):
		writeError(w, http.StatusConflict, store.StatusNeedsAdmin, "the connection's tenant refuses the app: "+tenant.Err.Reason())
	case errors.Is(err, token.ErrNotActive):
		status := "not_active"
		if c, cerr := a.cfg.Store.Connection(ctx, id); cerr == nil {
			status = c.Status
		}
		writeError(w, http.StatusConflict, status, fmt.Sprintf("connection %d is %s", id, status))
	case errors.Is(err, token.ErrNoSharePoint):
		writeError(w, http.StatusConflict, "no_sharepoint", token.ErrNoSharePoint.Error())
	case errors.As(err, &client):
		writeError(w, http.StatusServiceUnavailable, "app_credentials_refused", "the identity platform refuses graphsync's app credentials; the operator must fix them")
	default:
		a.log.WarnContext(ctx, "access token", "connection_id", id, "error", err)
		writeError(w, http.StatusBadGateway, "token_unavailable", "could not get an access token now; retry")
	}
}
