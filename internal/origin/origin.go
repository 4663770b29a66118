// Package origin compares URL origins and keeps HTTP clients that carry
// credentials (Graph's bearer tokens, the identity platform's client secret,
// codes and PKCE verifiers) from following a redirect to another origin.
package origin

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// Of is u's origin: scheme and host, lower-cased, with the scheme's default
// port left out, so that https://Graph.Microsoft.com:443 and
// https://graph.microsoft.com are one origin.
func Of(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if port != "" {
		return scheme + "://" + net.JoinHostPort(host, port)
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return scheme + "://" + host
}

// RedirectError is a redirect refused because it leaves the origin of the
// request that got it. It names the origins only: a Location may carry
// tokens in its path or query.
type RedirectError struct {
	Status   int    // the redirect's status, when known
	From, To string // origins
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("refused a redirect from %s to another origin, %s: credentials are sent to their own origin only", e.From, e.To)
}

// maxRedirects is net/http's own limit.
const maxRedirects = 10

// CheckRedirect is an http.Client CheckRedirect that follows redirects
// within the first request's origin only. Go's client drops Authorization
// on a redirect to another host but not to another port of the same host,
// and replays a 307 or 308's body (a token request's client secret, code
// and verifier) wherever it points.
func CheckRedirect(req *http.Request, via []*http.Request) error {
	if len(via) == 0 {
		return nil
	}
	first := via[0].URL
	if Of(req.URL) != Of(first) {
		e := &RedirectError{From: Of(first), To: Of(req.URL)}
		if req.Response != nil {
			e.Status = req.Response.StatusCode
		}
		return e
	}
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	return nil
}

// Guard returns a copy of c (a new client when c is nil) that follows
// redirects within one origin only.
func Guard(c *http.Client) *http.Client {
	var g http.Client
	if c != nil {
		g = *c
	}
	g.CheckRedirect = CheckRedirect
	return &g
}
