package graph

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/graphsync/graphsync/internal/origin"
	"github.com/graphsync/graphsync/internal/redact"
)

// CheckLink reports whether a link (an @odata.nextLink or @odata.deltaLink
// Graph sent, a 410's Location, a stored checkpoint) is one this client
// follows: a path under Graph's API version, or an absolute http(s) URL on
// the configured Graph origin, compared after normalisation (scheme and host
// case, the scheme's default port written or not), without user
// information, whose path lies under an API version of the configured base.
// Callers check a link before storing it as a checkpoint, so that a link
// the client would refuse can never block a stream.
func (c *Client) CheckLink(link string) error {
	_, err := c.resolve(link)
	return err
}

// checkURL parses an absolute link and checks it as CheckLink says.
func (c *Client) checkURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// *url.Error repeats the whole link, sync tokens included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("parse link: %w", err)
	}
	if u.User != nil {
		return nil, errors.New("link carries user credentials; Graph links never do")
	}
	if got, want := origin.Of(u), origin.Of(c.origin); got != want {
		return nil, fmt.Errorf("link origin %s is not the Graph origin %s", got, want)
	}
	if !c.graphPath(u.Path) {
		return nil, fmt.Errorf("link path %q is not under %s/v1.0/ or %s/beta/", redact.Link(u.Path), c.basePath, c.basePath)
	}
	// The request is built from u.String(); make sure it reaches the same host.
	if again, err := url.Parse(u.String()); err != nil || origin.Of(again) != origin.Of(c.origin) {
		return nil, fmt.Errorf("link %q does not resolve to the Graph origin", redact.Link(raw))
	}
	return u, nil
}

// graphPath reports whether p is a path Graph could have produced: under an
// API version of the configured base, with no dot segments that would leave
// it once a server cleans the path.
func (c *Client) graphPath(p string) bool {
	rest, ok := strings.CutPrefix(p, c.basePath+"/v1.0/")
	if !ok {
		if rest, ok = strings.CutPrefix(p, c.basePath+"/beta/"); !ok {
			return false
		}
	}
	for seg := range strings.SplitSeq(rest, "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	return true
}
