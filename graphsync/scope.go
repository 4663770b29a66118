package graphsync

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Resource is a kind of data graphsync syncs. Its value doubles as the
// Call.Resource metric label.
type Resource string

const (
	Mail     Resource = "mail"
	Calendar Resource = "calendar"
	Drive    Resource = "drive"
	Chats    Resource = "chats"
	People   Resource = "people"
	Contacts Resource = "contacts"
)

// graphResource is the scope prefix of Microsoft Graph; bare scope names
// such as Mail.Read belong to it too.
const graphResource = "https://graph.microsoft.com"

// baseScopes come with every delegated grant: offline_access for a refresh
// token, openid and profile for the id_token naming the user, User.Read for
// /me.
var baseScopes = []string{"offline_access", "openid", "profile", "User.Read"}

// oidcScopes are not resource scopes and may go with any resource.
var oidcScopes = map[string]bool{"openid": true, "profile": true, "email": true, "offline_access": true}

var delegatedScope = map[Resource]string{
	Mail:     "Mail.Read",
	Calendar: "Calendars.Read",
	Drive:    "Files.Read.All",
	Chats:    "Chat.Read",
	People:   "People.Read",
	Contacts: "Contacts.Read",
}

// DelegatedScopes returns the scopes to request for a user who connects
// the given resources, read-only and with a refresh token.
func DelegatedScopes(rs []Resource) []string {
	out := append([]string(nil), baseScopes...)
	seen := map[string]bool{}
	for _, r := range rs {
		s, ok := delegatedScope[r]
		if ok && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// ApplicationScopes returns the scope of an app-only (client credentials)
// token: whatever application permissions the admin consented to.
func ApplicationScopes() []string {
	return []string{graphResource + "/.default"}
}

// RequiredScope returns the delegated scope that reading r needs, to report
// a 403 as a missing scope. It is "" for an unknown resource.
func RequiredScope(r Resource) string {
	return delegatedScope[r]
}

// applicationPermission is the application permission (app role) an admin
// grants for reading r across a tenant.
var applicationPermission = map[Resource]string{
	Mail:     "Mail.Read",
	Calendar: "Calendars.Read",
	Drive:    "Files.Read.All",
	Chats:    "Chat.Read.All",
	People:   "People.Read.All",
	Contacts: "Contacts.Read",
}

// DirectoryPermission is the application permission user discovery
// (/users/delta) needs.
const DirectoryPermission = "User.Read.All"

// RequiredPermission returns the application permission that reading r for
// every user of a tenant needs; "" for an unknown resource.
func RequiredPermission(r Resource) string {
	return applicationPermission[r]
}

// ApplicationPermissions lists the application permissions an admin must
// grant for syncing rs across a tenant, user discovery included.
func ApplicationPermissions(rs []Resource) []string {
	out := []string{DirectoryPermission}
	for _, r := range rs {
		if p, ok := applicationPermission[r]; ok && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// ValidateScopes refuses scope lists the identity platform would reject
// (AADSTS70011, AADSTS28000), before a user is sent to sign in: an access
// token is for one resource, and .default cannot be mixed with named scopes.
func ValidateScopes(scopes []string) error {
	if len(scopes) == 0 {
		return errors.New("scopes: none given")
	}
	var resource, defaultScope, named string
	for _, s := range scopes {
		if s == "" || strings.ContainsAny(s, " \t\n") {
			return fmt.Errorf("scopes: %q is not a single scope", s)
		}
		if oidcScopes[strings.ToLower(s)] {
			continue
		}
		r, name := splitScope(s)
		if resource != "" && r != resource {
			return fmt.Errorf("scopes: %q and %q are for different resources; a token is for one", resource, r)
		}
		resource = r
		if strings.EqualFold(name, ".default") {
			defaultScope = s
		} else if named == "" {
			named = s
		}
		if defaultScope != "" && named != "" {
			return fmt.Errorf("scopes: %q cannot be combined with resource-specific scopes such as %q", defaultScope, named)
		}
	}
	return nil
}

// splitScope splits "https://graph.microsoft.com/Mail.Read" into its
// resource and name. Bare names and Graph's app id mean Graph.
func splitScope(s string) (resource, name string) {
	i := strings.LastIndex(s, "/")
	if i < 0 {
		return graphResource, s
	}
	r := strings.ToLower(strings.TrimRight(s[:i], "/"))
	switch r {
	case graphResource, "00000003-0000-0000-c000-000000000000", "https://graph.microsoft.com/v1.0":
		r = graphResource
	}
	return r, s[i+1:]
}
