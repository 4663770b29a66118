package identity_test

import (
	"testing"

	"github.com/graphsync/graphsync/graphsync"
	"github.com/graphsync/graphsync/identity"
)

func TestValidateScopes(t *testing.T) {
	t.Parallel()
	usGov, err := identity.NewAuth(identity.Config{Tenant: "t", ClientID: "c", GraphURL: "https://graph.microsoft.us"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		scopes []string
		ok     bool
	}{
		{"delegated", graphsync.DelegatedScopes([]*graphsync.Resource{graphsync.Mail, graphsync.Drive}), true},
		{"application", usGov.ApplicationScopes(), true},
		{"national cloud", []string{"https://graph.microsoft.us/Mail.Read", "Calendars.Read", "offline_access"}, true},
		{"default with oidc", []string{"https://graph.microsoft.com/.default", "offline_access", "openid"}, true},
		{"full urls", []string{"https://graph.microsoft.com/Mail.Read", "Calendars.Read", "openid"}, true},
		{"none", nil, false},
		{"default mixed with named", []string{"https://graph.microsoft.com/.default", "Mail.Read"}, false},
		{"named then default", []string{"openid", "https://graph.microsoft.com/User.Read", "https://graph.microsoft.com/.default"}, false},
		{"two resources", []string{"Mail.Read", "https://management.azure.com/user_impersonation"}, false},
		{"other api default plus graph", []string{"api://cd34/.default", "User.Read"}, false},
		{"space inside", []string{"Mail.Read User.Read"}, false},
		{"empty scope", []string{""}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := identity.ValidateScopes(tt.scopes)
			if (err == nil) != tt.ok {
				t.Fatalf("ValidateScopes(%q) = %v, want ok=%v", tt.scopes, err, tt.ok)
			}
		})
	}
}
