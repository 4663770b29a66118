package identity

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/oauth2"

	"github.com/graphsync/graphsync/internal/redact"
)

// TokenError is an error answer from the identity platform's token
// endpoint, parsed from its documented body (error, error_description,
// error_codes, suberror, trace_id, correlation_id). Status is 0 when the
// request was refused here, before calling Microsoft.
type TokenError struct {
	Status        int
	Code          string // OAuth error: invalid_grant, invalid_client, ...
	Codes         []int  // AADSTS codes
	Description   string
	SubError      string
	TraceID       string
	CorrelationID string

	op string // what was being done: "refresh token", "exchange code", ...
}

func (e *TokenError) Error() string {
	var b strings.Builder
	b.WriteString("identity platform: ")
	if e.op != "" {
		b.WriteString(e.op)
		b.WriteString(": ")
	}
	if e.Code != "" {
		b.WriteString(e.Code)
	} else {
		fmt.Fprintf(&b, "status %d", e.Status)
	}
	if n := e.AADSTS(); n != 0 {
		fmt.Fprintf(&b, " (AADSTS%d)", n)
	}
	if e.SubError != "" {
		b.WriteString(" suberror ")
		b.WriteString(e.SubError)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason())
	if d, _, _ := strings.Cut(e.Description, "\n"); d != "" {
		b.WriteString(" [")
		b.WriteString(truncate(strings.TrimSpace(d), 300))
		b.WriteByte(']')
	}
	if e.TraceID != "" {
		b.WriteString(" (trace_id ")
		b.WriteString(e.TraceID)
		b.WriteByte(')')
	}
	return b.String()
}

var aadstsRe = regexp.MustCompile(`AADSTS(\d+)`)

// AADSTS returns the first AADSTS code, from error_codes or else from the
// description; 0 when there is none.
func (e *TokenError) AADSTS() int {
	if len(e.Codes) > 0 {
		return e.Codes[0]
	}
	if m := aadstsRe.FindStringSubmatch(e.Description); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

func (e *TokenError) hasAADSTS(n int) bool {
	for _, c := range e.Codes {
		if c == n {
			return true
		}
	}
	return e.AADSTS() == n
}

// NeedsReauth reports that the grant is gone (expired, revoked, consent
// withdrawn, MFA or Conditional Access wants the user): only a new
// interactive sign-in helps. Retrying the refresh will not.
func (e *TokenError) NeedsReauth() bool {
	switch strings.ToLower(e.Code) {
	case "invalid_grant", "interaction_required", "consent_required", "login_required":
		return true
	}
	return strings.EqualFold(e.SubError, "consent_required")
}

// ClientProblem reports that the operator's app registration, secret or
// tenant setting is wrong. Users cannot fix it by signing in again.
func (e *TokenError) ClientProblem() bool {
	switch strings.ToLower(e.Code) {
	case "invalid_client", "unauthorized_client":
		return true
	}
	return e.hasAADSTS(9001023) || e.hasAADSTS(700016) || e.hasAADSTS(90002)
}

// aadstsReasons explains the codes an operator meets, in plain language
// (Microsoft Entra reference-error-codes).
var aadstsReasons = map[int]string{
	50076:   "multi-factor authentication is required; the user must sign in again",
	50079:   "the user must enrol in multi-factor authentication and sign in again",
	50173:   "the grant was revoked (password change or an admin revoked sessions); the user must sign in again",
	54005:   "the authorization code was already redeemed",
	65001:   "the user or an administrator has not consented to the app's permissions; the user must sign in and consent",
	70000:   "the grant (code or refresh token) is not valid; the user must sign in again",
	70008:   "the refresh token or authorization code has expired; the user must sign in again",
	70011:   "the requested scope is not valid (for example .default mixed with named scopes)",
	70043:   "Conditional Access sign-in frequency expired the refresh token; the user must sign in again",
	28000:   "the requested scopes span more than one resource",
	700022:  "the requested scopes span more than one resource",
	700016:  "the application (client id) is not registered in this tenant",
	700082:  "the refresh token expired after 90 days of inactivity; the user must sign in again",
	700084:  "the single-page-app refresh token reached its fixed lifetime; the user must sign in again",
	7000215: "the client secret is wrong (is the secret's ID configured instead of its value?)",
	7000218: "the request carried no client secret or assertion",
	7000222: "the client secret has expired; create a new one in the app registration",
	9001023: "this grant type is not allowed on the /common or /consumers endpoint; configure a tenant id",
	9002313: "the request was malformed (for example a damaged refresh token)",
	90002:   "the tenant was not found",
}

var codeReasons = map[string]string{
	"invalid_grant":           "the grant is no longer valid; the user must sign in again",
	"interaction_required":    "the user must sign in interactively",
	"consent_required":        "the user must consent to the app's permissions",
	"login_required":          "the user must sign in",
	"invalid_client":          "the app's client credentials were refused",
	"unauthorized_client":     "the app is not allowed to use this grant",
	"invalid_scope":           "the requested scope is not valid",
	"invalid_request":         "the request was malformed",
	"unsupported_grant_type":  "the grant type is not supported here",
	"temporarily_unavailable": "the identity platform is temporarily unavailable; retry later",
	"server_error":            "the identity platform failed; retry later",
}

// Reason explains the failure in plain language for an operator or user,
// by AADSTS code first, then by OAuth error code.
func (e *TokenError) Reason() string {
	for _, c := range e.Codes {
		if r, ok := aadstsReasons[c]; ok {
			return r
		}
	}
	if r, ok := aadstsReasons[e.AADSTS()]; ok {
		return r
	}
	if r, ok := codeReasons[strings.ToLower(e.Code)]; ok {
		return r
	}
	if e.Status >= 500 {
		return "the identity platform failed; retry later"
	}
	return "the token request was refused"
}

type tokenErrorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorCodes       []int  `json:"error_codes"`
	SubError         string `json:"suberror"`
	TraceID          string `json:"trace_id"`
	CorrelationID    string `json:"correlation_id"`
}

// tokenError maps oauth2's errors. A *oauth2.RetrieveError holds the
// response and through it the request, whose form carries the client
// secret and refresh token, so it is never kept in the returned chain.
func tokenError(op string, err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return fmt.Errorf("identity platform: %s: %w", op, redact.URLError(err))
	}
	te := &TokenError{Code: re.ErrorCode, Description: re.ErrorDescription, op: op}
	if re.Response != nil {
		te.Status = re.Response.StatusCode
	}
	var b tokenErrorBody
	if json.Unmarshal(re.Body, &b) == nil {
		if b.Error != "" {
			te.Code = b.Error
		}
		if b.ErrorDescription != "" {
			te.Description = b.ErrorDescription
		}
		te.Codes = b.ErrorCodes
		te.SubError = b.SubError
		te.TraceID = b.TraceID
		te.CorrelationID = b.CorrelationID
	}
	return te
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
