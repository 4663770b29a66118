package identity_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/graphsync/graphsync/identity"
)

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func TestTokenStringRedacts(t *testing.T) {
	t.Parallel()
	claims := base64.RawURLEncoding.EncodeToString([]byte(`{"tid":"t1","oid":"o1","preferred_username":"adele@contoso.com"}`))
	tok := identity.Token{
		AccessToken:  "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.access-secret",
		RefreshToken: "0.AAAA-refresh-secret",
		IDToken:      "eyJhbGciOiJub25lIn0." + claims + ".sig-secret",
		Expiry:       time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		Username:     "adele@contoso.com",
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("token", "token", tok, "ptr", &tok)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("token", "token", tok)
	outputs := map[string]string{
		"%v":     fmt.Sprintf("%v", tok),
		"%+v":    fmt.Sprintf("%+v", tok),
		"%#v":    fmt.Sprintf("%#v", tok),
		"%s ptr": fmt.Sprintf("%s", &tok),
		"%v ptr": fmt.Sprintf("%v", &tok),
		"slog":   logs.String(),
	}
	for name, out := range outputs {
		for _, secret := range []string{"access-secret", "refresh-secret", "sig-secret", claims} {
			if strings.Contains(out, secret) {
				t.Errorf("%s leaks %q: %s", name, secret, out)
			}
		}
		if !strings.Contains(out, "adele@contoso.com") {
			t.Errorf("%s lost the non-secret fields: %s", name, out)
		}
	}
}

func TestTokenErrorReason(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err           identity.TokenError
		aadsts        int
		reauth, opErr bool
		reason        string
	}{
		{identity.TokenError{Status: 400, Code: "invalid_grant", Codes: []int{700082}}, 700082, true, false, "90 days"},
		{identity.TokenError{Status: 400, Code: "invalid_grant", Codes: []int{50173}}, 50173, true, false, "revoked"},
		{identity.TokenError{Status: 400, Code: "invalid_grant", Codes: []int{65001}, SubError: "consent_required"}, 65001, true, false, "consent"},
		{identity.TokenError{Status: 401, Code: "invalid_client", Codes: []int{7000222}}, 7000222, false, true, "expired"},
		{identity.TokenError{Status: 401, Code: "invalid_client", Description: "AADSTS7000215: Invalid client secret provided."}, 7000215, false, true, "wrong"},
		{identity.TokenError{Status: 400, Code: "invalid_scope", Codes: []int{70011}}, 70011, false, false, "scope"},
		{identity.TokenError{Status: 400, Code: "interaction_required", Codes: []int{50076}}, 50076, true, false, "multi-factor"},
		{identity.TokenError{Status: 503, Code: "temporarily_unavailable"}, 0, false, false, "temporarily"},
	}
	for _, tt := range tests {
		e := tt.err
		if got := e.AADSTS(); got != tt.aadsts {
			t.Errorf("%s AADSTS() = %d, want %d", e.Code, got, tt.aadsts)
		}
		if e.NeedsReauth() != tt.reauth || e.ClientProblem() != tt.opErr {
			t.Errorf("%v: NeedsReauth=%v ClientProblem=%v, want %v %v", &e, e.NeedsReauth(), e.ClientProblem(), tt.reauth, tt.opErr)
		}
		if !strings.Contains(e.Reason(), tt.reason) || !strings.Contains(e.Error(), e.Reason()) {
			t.Errorf("%d: Reason() = %q, want it to mention %q", tt.aadsts, e.Reason(), tt.reason)
		}
	}
}

// Each failure is classified by who can fix it, from the documented meaning
// of its AADSTS code first: a tenant's problem never counts as the app's.
func TestTokenErrorScope(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  identity.TokenError
		want identity.Scope
	}{
		{identity.TokenError{Status: 400, Code: "invalid_request", Codes: []int{90002}}, identity.ScopeTenant},
		{identity.TokenError{Status: 400, Code: "unauthorized_client", Codes: []int{700016}}, identity.ScopeTenant},
		{identity.TokenError{Status: 400, Code: "invalid_client", Codes: []int{7000112}}, identity.ScopeTenant},
		{identity.TokenError{Status: 400, Code: "invalid_grant", Codes: []int{500011}}, identity.ScopeTenant},
		{identity.TokenError{Status: 400, Code: "invalid_grant", Codes: []int{90094}}, identity.ScopeTenant},
		{identity.TokenError{Status: 401, Code: "invalid_client", Codes: []int{7000215}}, identity.ScopeApp},
		{identity.TokenError{Status: 401, Code: "invalid_client", Codes: []int{7000222}}, identity.ScopeApp},
		{identity.TokenError{Status: 400, Code: "invalid_request", Codes: []int{9001023}}, identity.ScopeApp},
		{identity.TokenError{Status: 401, Code: "invalid_client"}, identity.ScopeApp},
		{identity.TokenError{Status: 400, Code: "invalid_grant", Codes: []int{700082}}, identity.ScopeUser},
		{identity.TokenError{Status: 400, Code: "invalid_grant", Codes: []int{50057}}, identity.ScopeUser},
		{identity.TokenError{Status: 400, Code: "invalid_grant", Description: "AADSTS53003: Access has been blocked by Conditional Access policies."}, identity.ScopeUser},
		{identity.TokenError{Status: 400, Code: "invalid_grant", Codes: []int{123456}}, identity.ScopeUser},
		{identity.TokenError{Status: 503, Code: "temporarily_unavailable"}, identity.ScopeNone},
		{identity.TokenError{Status: 400, Code: "invalid_request", Codes: []int{900144}}, identity.ScopeNone},
	}
	for _, tt := range tests {
		if got := tt.err.Scope(); got != tt.want {
			t.Errorf("%v: Scope() = %q, want %q", &tt.err, got, tt.want)
		}
	}
}
