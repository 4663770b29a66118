package graph

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Error is a non-2xx answer from Graph, parsed from its documented error body
// {"error":{"code","message","innerError":{...}}}. Callers branch on it with
// the Is* predicates, which compare codes case-insensitively: Outlook spells
// SyncStateNotFound where the documentation says syncStateNotFound.
type Error struct {
	Status     int
	Code       string
	Message    string
	RequestID  string
	RetryAfter time.Duration // throttling: how long to stay away before the next request
	Location   string        // 410 Gone: where a new enumeration starts (OneDrive)

	method string
	path   string   // URL path only: query strings hold skip and delta tokens
	inner  []string // nested innerError codes, e.g. resyncApplyDifferences
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("graph: ")
	if e.method != "" {
		b.WriteString(e.method)
		b.WriteByte(' ')
		b.WriteString(e.path)
		b.WriteString(": ")
	}
	fmt.Fprintf(&b, "%d", e.Status)
	if e.Code != "" {
		b.WriteByte(' ')
		b.WriteString(e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(truncate(e.Message, 200))
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	if e.RequestID != "" {
		b.WriteString(" (request-id ")
		b.WriteString(e.RequestID)
		b.WriteByte(')')
	}
	return b.String()
}

// graphErrorBody is Graph's error envelope. innerError nests further
// innerError objects whose codes refine the top-level one.
type graphErrorBody struct {
	Error struct {
		Code       string          `json:"code"`
		Message    string          `json:"message"`
		InnerError json.RawMessage `json:"innerError"`
	} `json:"error"`
}

type innerError struct {
	Code       string          `json:"code"`
	RequestID  string          `json:"request-id"`
	InnerError json.RawMessage `json:"innerError"`
}

// newError builds an *Error from a response. Bodies that are not Graph's JSON
// (a proxy's HTML page, an empty 503) still yield an Error with the status.
func newError(method, path string, resp *http.Response, body []byte) *Error {
	e := &Error{
		Status:    resp.StatusCode,
		RequestID: resp.Header.Get("request-id"),
		Location:  resp.Header.Get("Location"),
		method:    method,
		path:      path,
	}
	var eb graphErrorBody
	if json.Unmarshal(body, &eb) == nil && eb.Error.Code != "" {
		e.Code = eb.Error.Code
		e.Message = eb.Error.Message
		raw := eb.Error.InnerError
		for depth := 0; len(raw) > 0 && depth < 4; depth++ {
			var ie innerError
			if json.Unmarshal(raw, &ie) != nil {
				break
			}
			if ie.Code != "" {
				e.inner = append(e.inner, ie.Code)
			}
			if e.RequestID == "" {
				e.RequestID = ie.RequestID
			}
			raw = ie.InnerError
		}
	} else if len(body) > 0 {
		e.Message = truncate(strings.TrimSpace(string(body)), 200)
	}
	return e
}

func (e *Error) hasCode(codes ...string) bool {
	for _, c := range codes {
		if strings.EqualFold(e.Code, c) {
			return true
		}
		for _, ic := range e.inner {
			if strings.EqualFold(ic, c) {
				return true
			}
		}
	}
	return false
}

func asError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// IsThrottled reports whether err is Graph (or this client, holding a
// Retry-After window) asking the caller to stay away, and for how long. A
// zero duration means the service gave none; the caller picks a backoff.
func IsThrottled(err error) (time.Duration, bool) {
	e, ok := asError(err)
	if !ok {
		return 0, false
	}
	switch {
	case e.Status == http.StatusTooManyRequests,
		e.Status == http.StatusServiceUnavailable,
		e.Status == http.StatusGatewayTimeout,
		e.hasCode("activityLimitReached", "throttledRequest", "ApplicationThrottled", "TooManyRequests"):
		return e.RetryAfter, true
	}
	return 0, false
}

// syncResetCodes are the codes with which Outlook, OneDrive and the directory
// say a delta or skip token is no longer usable and the round must restart.
var syncResetCodes = []string{
	"syncStateNotFound",
	"syncStateInvalid",
	"resyncRequired",
	"resyncChangesApplyDifferences",
	"resyncChangesUploadDifferences",
	"resyncApplyDifferences",
	"resyncUploadDifferences",
}

// IsSyncReset reports whether the delta state behind the request is gone:
// 410 Gone, or one of the documented sync-state codes (which the directory
// sends with 400). The caller drops its deltaLink and enumerates again, from
// Error.Location when Graph sent one.
func IsSyncReset(err error) bool {
	e, ok := asError(err)
	if !ok {
		return false
	}
	return e.Status == http.StatusGone || e.hasCode(syncResetCodes...)
}

// IsUnauthorized reports a 401, usually InvalidAuthenticationToken: the
// access token expired mid-sync. Refresh it and retry the same link.
func IsUnauthorized(err error) bool {
	e, ok := asError(err)
	return ok && (e.Status == http.StatusUnauthorized || e.hasCode("InvalidAuthenticationToken"))
}

// IsForbidden reports a 403: the grant lacks the scope (see RequiredScope) or
// the mailbox refuses the app.
func IsForbidden(err error) bool {
	e, ok := asError(err)
	return ok && (e.Status == http.StatusForbidden || e.hasCode("accessDenied", "ErrorAccessDenied"))
}

// IsNotFound reports a missing user, mailbox, folder or item.
func IsNotFound(err error) bool {
	e, ok := asError(err)
	if !ok {
		return false
	}
	return e.Status == http.StatusNotFound ||
		e.hasCode("itemNotFound", "ErrorItemNotFound", "ResourceNotFound", "Request_ResourceNotFound",
			"ErrorSyncFolderNotFound", "ErrorInvalidUser", "MailboxNotEnabledForRESTAPI")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
