package connect_test

import (
	"testing"

	"github.com/graphsync/graphsync/connect"
)

// TestErrorCode maps the authorization errors Microsoft documents to the
// codes apps receive.
func TestErrorCode(t *testing.T) {
	t.Parallel()
	cases := []struct{ err, desc, want string }{
		{"access_denied", "AADSTS65004: User declined to consent to access the app.", "consent_denied"},
		{"access_denied", "", "consent_denied"},
		{"invalid_request", "AADSTS90094: The grant requires admin permission.", "admin_approval_required"},
		{"consent_required", "AADSTS65001: The user or administrator has not consented to use the application.", "admin_approval_required"},
		{"access_denied", "AADSTS50105: The signed in user is not assigned to a role for the application.", "user_not_assigned"},
		{"access_denied", "AADSTS53003: Access has been blocked by Conditional Access policies.", "blocked_by_policy"},
		{"invalid_request", "AADSTS90002: Tenant 'x' not found.", "tenant_not_found"},
		{"login_required", "AADSTS50058: A silent sign-in request was sent but no user is signed in.", "sign_in_required"},
		{"server_error", "AADSTS90033: A transient error has occurred.", "sign_in_failed"},
	}
	for _, c := range cases {
		if got := connect.ErrorCode(c.err, c.desc); got != c.want {
			t.Errorf("ErrorCode(%q, %q) = %q, want %q", c.err, c.desc, got, c.want)
		}
	}
}
