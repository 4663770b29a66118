package graphsync

import (
	"context"
	"encoding/json"
)

// Page is one page of a Graph collection or delta round. A round goes on
// while NextLink is set (a page may be empty and still have one) and ends
// with DeltaLink, to be stored and followed later for changes since.
type Page struct {
	Items     []json.RawMessage // raw so that one bad record cannot fail the page
	NextLink  string
	DeltaLink string
	RequestID string
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
func (c *Client) GetPage(ctx context.Context, call Call, link string) (*Page, error) {
	var pb pageBody
	reqID, err := c.do(ctx, call, link, true, func(body []byte) error {
		pb = pageBody{}
		if err := json.Unmarshal(body, &pb); err != nil {
			return err
		}
		if pb.Value == nil {
			return &pageError{"response has no value array"}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &Page{Items: pb.Value, NextLink: pb.NextLink, DeltaLink: pb.DeltaLink, RequestID: reqID}, nil
}
