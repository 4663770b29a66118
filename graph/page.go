package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/graphsync/graphsync/internal/jsonscan"
)

// Page is one page of a Graph collection or delta round. A round goes on
// while NextLink is set (a page may be empty and still have one) and ends
// with DeltaLink, to be stored and followed later for changes since.
type Page struct {
	Items     []json.RawMessage // raw so that one bad record cannot fail the page
	NextLink  string
	DeltaLink string
	RequestID string
	// Refused are the items a salvaged page (Call.Salvage) could not keep.
	Refused []Refused
}

type pageBody struct {
	Value     []json.RawMessage `json:"value"`
	NextLink  string            `json:"@odata.nextLink"`
	DeltaLink string            `json:"@odata.deltaLink"`
}

// pageError is a well-formed body that is not a collection; retrying would
// not change it.
type pageError struct{ msg string }

func (e *pageError) Error() string { return e.msg }

// GetPage fetches one page. link is a path such as "/me/mailFolders/delta"
// (resolved against BaseURL+"/v1.0") or an absolute nextLink, deltaLink or
// Location, followed verbatim.
//
// A page that cannot be read whole comes back as an *UnreadablePageError;
// with call.Salvage, the page is read item by item instead.
func (c *Client) GetPage(ctx context.Context, call Call, link string) (*Page, error) {
	var page *Page
	dec := decoder{body: func(body []byte) error {
		pb, err := splitPage(body)
		page = &Page{Items: pb.Value, NextLink: pb.NextLink, DeltaLink: pb.DeltaLink}
		return err
	}}
	if call.Salvage {
		dec.stream = func(r io.Reader) error {
			var err error
			page, err = salvage(r, maxBodyBytes)
			return err
		}
	}
	reqID, err := c.do(ctx, call, request{method: http.MethodGet, link: link, collection: true}, dec)
	if err != nil {
		return nil, err
	}
	page.RequestID = reqID
	return page, nil
}

// splitPage validates a collection body and cuts it into its items, in one
// walk and without copying them: encoding/json would scan every item twice
// and copy it into a RawMessage, and validating then splitting walked the
// page twice; on pages of hundreds of messages that was most of the
// decoding time. It accepts what encoding/json accepts, except that it has
// no nesting limit: one record nested deeper than encoding/json's 10,000
// levels must not fail its whole page (it is refused on its own later).
func splitPage(body []byte) (pageBody, error) {
	var pb pageBody
	members, ok := jsonscan.Scan(body)
	if !ok {
		// Only now pay for a precise syntax error.
		var v json.RawMessage
		if err := json.Unmarshal(body, &v); err != nil {
			return pb, err
		}
		return pb, errors.New("invalid JSON")
	}
	if members == nil && !bytes.HasPrefix(bytes.TrimLeft(body, " \t\r\n"), []byte("{")) {
		return pb, &pageError{"response is not a JSON object"}
	}
	for _, m := range members {
		key := m.Key
		if bytes.IndexByte(key, '\\') >= 0 {
			var k string
			if json.Unmarshal(key, &k) == nil {
				key = []byte(strconv.Quote(k))
			}
		}
		switch string(key) {
		// A repeated key counts once, the last time, as encoding/json reads it.
		case `"value"`:
			pb.Value = m.Elems
		case `"@odata.nextLink"`:
			pb.NextLink = linkValue(m.Value)
		case `"@odata.deltaLink"`:
			pb.DeltaLink = linkValue(m.Value)
		}
	}
	if pb.Value == nil {
		return pb, &pageError{"response has no value array"}
	}
	return pb, nil
}

// linkValue reads a link; anything but a string is no link.
func linkValue(val []byte) string {
	var s string
	if json.Unmarshal(val, &s) != nil {
		return ""
	}
	return s
}
