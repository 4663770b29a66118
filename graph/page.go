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

// splitPage cuts a collection body into its items without copying them.
// encoding/json would scan every item twice and copy it into a RawMessage;
// on pages of hundreds of messages that is most of the decoding time.
func splitPage(body []byte) (pageBody, error) {
	var pb pageBody
	// encoding/json refuses documents nested deeper than 10,000 levels; one
	// such record must not fail its whole page, so a second validator
	// without that limit decides, and the record is refused on its own later.
	if !json.Valid(body) && !jsonscan.ValidDeep(body) {
		// Only now pay for a precise syntax error.
		var v json.RawMessage
		if err := json.Unmarshal(body, &v); err != nil {
			return pb, err
		}
		return pb, errors.New("invalid JSON")
	}
	i := jsonscan.SkipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return pb, &pageError{"response is not a JSON object"}
	}
	i++
	for {
		i = jsonscan.SkipSpace(body, i)
		if i >= len(body) || body[i] == '}' {
			break
		}
		if body[i] == ',' {
			i++
			continue
		}
		kEnd := jsonscan.SkipValue(body, i)
		key := body[i:kEnd]
		if bytes.IndexByte(key, '\\') >= 0 {
			var k string
			if json.Unmarshal(key, &k) == nil {
				key = []byte(strconv.Quote(k))
			}
		}
		i = jsonscan.SkipSpace(body, kEnd)
		i = jsonscan.SkipSpace(body, i+1) // the colon
		vEnd := jsonscan.SkipValue(body, i)
		val := body[i:vEnd]
		switch string(key) {
		// A repeated key counts once, the last time, as encoding/json reads it.
		case `"value"`:
			pb.Value = nil
			if val[0] == '[' {
				pb.Value = jsonscan.SplitArray(val)
			}
		case `"@odata.nextLink"`:
			pb.NextLink = linkValue(val)
		case `"@odata.deltaLink"`:
			pb.DeltaLink = linkValue(val)
		}
		i = vEnd
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
