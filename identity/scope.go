package identity

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// graphResource is the scope prefix of Microsoft Graph; bare scope names
// such as Mail.Read belong to it too.
const graphResource = "https://graph.microsoft.com"

// ApplicationScopes returns the scope of an app-only (client credentials)
// token: whatever application permissions the admin consented to, for
// Graph in the configured cloud.
func (a *Auth) ApplicationScopes() []string {
	return []string{a.cfg.GraphURL + "/.default"}
}

// nationalGraphs are Graph's URLs in the national clouds
// (learn.microsoft.com/graph/deployments): scopes on them are Graph's.
var nationalGraphs = []string{"https://graph.microsoft.us", "https://dod-graph.microsoft.us", "https://microsoftgraph.chinacloudapi.cn"}

// oidcScopes are not resource scopes and may go with any resource.
var oidcScopes = map[string]bool{"openid": true, "profile": true, "email": true, "offline_access": true}

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
	if slices.Contains(nationalGraphs, r) {
		r = graphResource
	}
	return r, s[i+1:]
}
