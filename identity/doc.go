// Package identity talks to the Microsoft identity platform (v2.0
// endpoints): the authorization-code flow with PKCE, refresh with rotated
// refresh tokens, tokens for other resources (SharePoint), client
// credentials for app-only tokens, and admin consent.
//
// Token endpoint failures come back as *TokenError: NeedsReauth means the
// user must sign in again, ClientProblem means the operator's app
// registration or secret is wrong, and Reason explains either in plain
// language.
package identity
