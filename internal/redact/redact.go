// Package redact keeps secrets that travel in URLs out of logs, errors and
// the database's error columns: Graph puts skip and delta tokens in a link's
// query, and OneDrive in its path (root/delta(token='...')).
package redact

import (
	"errors"
	"net/url"
	"strings"
)

// Link returns link without what may hold a token: the query, user
// information, and a path segment's function arguments (OneDrive's
// delta(token='...')).
func Link(link string) string {
	if i := strings.IndexByte(link, '?'); i >= 0 {
		link = link[:i]
	}
	if i := strings.IndexByte(link, '#'); i >= 0 {
		link = link[:i]
	}
	if u, err := url.Parse(link); err == nil && u.User != nil {
		u.User = nil
		link = u.String()
	}
	// delta(token='x'), delta(token=x): keep the function's name only.
	for {
		i := strings.Index(strings.ToLower(link), "(token")
		if i < 0 {
			break
		}
		end := strings.IndexByte(link[i:], ')')
		if end < 0 {
			link = link[:i] + "(…)"
			break
		}
		link = link[:i] + "(…)" + link[i+end+1:]
	}
	return link
}

// URLError redacts the URL of a *url.Error in err, which net/http builds
// with the whole link.
func URLError(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	return &url.Error{Op: ue.Op, URL: Link(ue.URL), Err: ue.Err}
}
