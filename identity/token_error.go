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

// Scope is who a token-endpoint failure is about, and so who can fix it.
type Scope string

const (
	// ScopeNone: a transient or unclassified failure; retrying may help.
	ScopeNone Scope = ""
	// ScopeUser: this user's grant or account (expired or revoked grant,
	// consent withdrawn, MFA or Conditional Access wants the user, account
	// disabled): only this connection is affected, and a new sign-in (or
	// the user's administrator) fixes it.
	ScopeUser Scope = "user"
	// ScopeTenant: the tenant the request went to (tenant not found, the
	// app not installed, consented or enabled there, a tenant policy):
	// every connection of that tenant is affected, and only that tenant's
	// administrator can fix it.
	ScopeTenant Scope = "tenant"
	// ScopeApp: the app registration or its credentials (wrong, expired or
	// missing secret, a grant the app may not use where configured): every
	// connection is affected until the operator fixes the configuration.
	ScopeApp Scope = "app"
)

// aadstsScopes classifies the AADSTS codes a token request can meet by what
// Microsoft documents they mean (Microsoft Entra reference-error-codes).
// Codes not listed fall back to the OAuth error (see Scope).
var aadstsScopes = map[int]Scope{
	// The app registration or its credentials.
	70002:   ScopeApp, // InvalidClient: the client secret does not match
	7000215: ScopeApp, // invalid client secret
	7000218: ScopeApp, // no client secret or assertion sent
	7000222: ScopeApp, // InvalidClientSecretExpiredKeysProvided
	700025:  ScopeApp, // a public client presented credentials
	700027:  ScopeApp, // client assertion failed signature validation
	50012:   ScopeApp, // AuthenticationFailed: the client's certificate or assertion
	9001023: ScopeApp, // grant type not supported on /common or /consumers: GRAPHSYNC_TENANT
	50194:   ScopeApp, // the app is not multitenant and /common was used
	90130:   ScopeApp, // the app is not supported over /common or /consumers
	700054:  ScopeApp, // response type not enabled for the application

	// The tenant the request went to.
	90002:   ScopeTenant, // InvalidTenantName: the tenant was not found
	50059:   ScopeTenant, // no tenant-identifying information
	50128:   ScopeTenant, // invalid domain name: no tenant found
	700016:  ScopeTenant, // UnauthorizedClient_DoesNotMatchRequest: the app is not in this tenant
	700011:  ScopeTenant, // UnauthorizedClientAppNotFoundInOrgIdTenant
	500011:  ScopeTenant, // the resource principal (Graph) is not in the tenant
	70001:   ScopeTenant, // UnauthorizedClient: the application is disabled (in the tenant)
	7000112: ScopeTenant, // UnauthorizedClientApplicationDisabled
	90094:   ScopeTenant, // AdminConsentRequired
	90099:   ScopeTenant, // the application has not been authorized in the tenant
	650052:  ScopeTenant, // the organization has not subscribed to a service the app needs
	650054:  ScopeTenant, // a resource the app asks for is no longer available in the tenant
	650056:  ScopeTenant, // misconfigured application: the admin has not consented in the tenant
	500021:  ScopeTenant, // tenant restrictions deny access to the tenant
	500022:  ScopeTenant, // tenant restrictions deny access to the tenant
	500212:  ScopeTenant, // NotAllowedByOutboundPolicyTenant
	500213:  ScopeTenant, // NotAllowedByInboundPolicyTenant
	530032:  ScopeTenant, // BlockedByConditionalAccessOnSecurityPolicy (tenant security policy)
	90038:   ScopeTenant, // the tenant belongs to another national cloud

	// This user's grant or account.
	50173:   ScopeUser, // FreshTokenNeeded: grant revoked
	70000:   ScopeUser, // InvalidGrant: the refresh token is not valid
	70008:   ScopeUser, // ExpiredOrRevokedGrant
	700082:  ScopeUser, // ExpiredOrRevokedGrantInactiveToken
	700084:  ScopeUser, // SPA refresh token lifetime
	70043:   ScopeUser, // BadTokenDueToSignInFrequency
	65001:   ScopeUser, // DelegationDoesNotExist: consent
	65004:   ScopeUser, // UserDeclinedConsent
	50076:   ScopeUser, // MFA required
	50079:   ScopeUser, // MFA enrolment required
	50055:   ScopeUser, // the password expired
	50057:   ScopeUser, // UserDisabled
	50053:   ScopeUser, // the account is locked
	50034:   ScopeUser, // UserAccountNotFound
	50020:   ScopeUser, // the user is not in the tenant
	50105:   ScopeUser, // the user is not assigned to the app
	50133:   ScopeUser, // the session is not valid after a password change
	53003:   ScopeUser, // BlockedByConditionalAccess for this sign-in
	700020:  ScopeUser, // InteractionRequired
	9002313: ScopeUser, // the stored refresh token is malformed
	54005:   ScopeUser, // the authorization code was already redeemed
}

// Scope says who the failure is about: a known AADSTS code decides, by its
// documented meaning; otherwise the OAuth error does (invalid_grant and the
// interaction errors are the user's, invalid_client and unauthorized_client
// the app's); anything else is ScopeNone, worth retrying.
func (e *TokenError) Scope() Scope {
	if s, ok := byAADSTS(e, aadstsScopes); ok {
		return s
	}
	switch strings.ToLower(e.Code) {
	case "invalid_grant", "interaction_required", "consent_required", "login_required":
		return ScopeUser
	case "invalid_client", "unauthorized_client":
		return ScopeApp
	}
	if strings.EqualFold(e.SubError, "consent_required") {
		return ScopeUser
	}
	return ScopeNone
}

// NeedsReauth reports a problem of this user's grant or account
// (ScopeUser): only the user (a new sign-in) or their administrator can
// help. Retrying the refresh will not.
func (e *TokenError) NeedsReauth() bool { return e.Scope() == ScopeUser }

// TenantProblem reports a problem of the tenant the request went to
// (ScopeTenant): every connection of that tenant is affected; the tenant's
// administrator must act.
func (e *TokenError) TenantProblem() bool { return e.Scope() == ScopeTenant }

// ClientProblem reports that the operator's app registration or secret is
// wrong (ScopeApp): every connection is affected. Users cannot fix it by
// signing in again.
func (e *TokenError) ClientProblem() bool { return e.Scope() == ScopeApp }

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
	700016:  "the app is not installed or consented in this tenant (or GRAPHSYNC_CLIENT_ID is wrong)",
	700082:  "the refresh token expired after 90 days of inactivity; the user must sign in again",
	700084:  "the single-page-app refresh token reached its fixed lifetime; the user must sign in again",
	7000215: "the client secret is wrong (is the secret's ID configured instead of its value?)",
	7000218: "the request carried no client secret or assertion",
	7000222: "the client secret has expired; create a new one in the app registration",
	9001023: "this grant type is not allowed on the /common or /consumers endpoint; configure a tenant id",
	9002313: "the request was malformed (for example a damaged refresh token)",
	90002:   "the tenant was not found (deleted, or a wrong tenant id or domain)",
	700011:  "the app is not registered in this tenant",
	500011:  "Microsoft Graph is not available in this tenant (the app was never installed or consented there)",
	70001:   "the app is disabled in this tenant; a tenant administrator must enable it",
	7000112: "the app is disabled in this tenant; a tenant administrator must enable it",
	90094:   "a tenant administrator must grant consent to the app",
	650052:  "the organization has not subscribed to a service the app needs",
	650056:  "a tenant administrator has not consented to the app in this tenant",
	500021:  "the tenant's restrictions deny access",
	500022:  "the tenant's restrictions deny access",
	530032:  "a tenant security policy blocks the request",
	50057:   "the user's account is disabled",
	50053:   "the user's account is locked",
	50055:   "the user's password has expired; the user must reset it and sign in again",
	50034:   "the user account does not exist in the tenant",
	53003:   "Conditional Access blocks this sign-in",
	70002:   "the client secret is wrong",
	50194:   "the app is not multitenant: configure GRAPHSYNC_TENANT with its tenant instead of common",
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

// byAADSTS looks up the first of the error's AADSTS codes that m knows:
// error_codes in order, then the code in the description.
func byAADSTS[T any](e *TokenError, m map[int]T) (T, bool) {
	for _, c := range e.Codes {
		if v, ok := m[c]; ok {
			return v, true
		}
	}
	v, ok := m[e.AADSTS()]
	return v, ok
}

// Reason explains the failure in plain language for an operator or user,
// by AADSTS code first, then by OAuth error code.
func (e *TokenError) Reason() string {
	if r, ok := byAADSTS(e, aadstsReasons); ok {
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
