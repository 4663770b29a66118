package graphsync

import (
	"encoding/json"
	"net/url"
	"strings"
	"time"

	"github.com/graphsync/graphsync/internal/jsonscan"
)

// Attachment is a mail attachment as .../messages/{id}/attachments lists it
// (learn.microsoft.com/graph/api/resources/attachment and its derived
// fileAttachment, itemAttachment and referenceAttachment), without
// contentBytes: the content, when kept, is read through $value.
type Attachment struct {
	ODataType            string    `json:"@odata.type"`
	ID                   string    `json:"id"`
	Name                 string    `json:"name,omitempty"`
	ContentType          string    `json:"contentType,omitempty"`
	Size                 int64     `json:"size,omitempty"`
	IsInline             bool      `json:"isInline,omitempty"`
	LastModifiedDateTime time.Time `json:"lastModifiedDateTime"`
	// ContentID is a file attachment's, named by cid: in an HTML body.
	ContentID string `json:"contentId,omitempty"`
	// Item is an item attachment's message or event, with
	// $expand=microsoft.graph.itemattachment/item.
	Item json.RawMessage `json:"item,omitempty"`
}

// Kinds of attachment, from @odata.type.
const (
	AttachmentFile      = "file"
	AttachmentItem      = "item"
	AttachmentReference = "reference"
)

// Kind is file, item or reference; "" for a type Graph may add later.
func (a Attachment) Kind() string {
	switch strings.ToLower(strings.TrimPrefix(a.ODataType, "#")) {
	case "microsoft.graph.fileattachment":
		return AttachmentFile
	case "microsoft.graph.itemattachment":
		return AttachmentItem
	case "microsoft.graph.referenceattachment":
		return AttachmentReference
	}
	return ""
}

// HasContent says whether $value serves the attachment's content: a
// file's bytes or an item's MIME; a reference is only a link (405).
func (a Attachment) HasContent() bool {
	k := a.Kind()
	return k == AttachmentFile || k == AttachmentItem
}

// DecodeAttachment decodes one entry of a message's attachments.
func DecodeAttachment(raw json.RawMessage) (Attachment, error) {
	return decode[Attachment]("attachment", raw)
}

// Details are rows Graph serves per item with a request of their own, not
// in the item's delta (a message's attachments): the engine reads them
// after the page that wrote the item commits, for items whose Version
// changed since their details were last read.
type Details struct {
	// Table holds the details; its Container column names their item.
	Table *Table
	// Wanted reports whether a complete item has details to read. An item
	// read before keeps being read when it no longer wants any, so that
	// its details are retired, unless RetireUnwanted.
	Wanted func(raw []byte) bool
	// RetireUnwanted retires the details of an item that no longer wants
	// any without reading them: the list would hold what the item does
	// not own (a drive item that inherits again lists its ancestor's
	// permissions).
	RetireUnwanted bool
	// Version changes whenever the item's details may have changed.
	Version func(raw []byte) string
	// Via is a column of the item's table whose value Path needs (a drive
	// item's drive); empty for none.
	Via string
	// Path lists the details of item, given the user's path (/me or
	// /users/{id}) and the item's Via value.
	Path func(user, via, item string) string
	// ContentPath is the Graph path of one detail's content ($value).
	ContentPath func(user, item, id string) string
}

// attachmentSelect lists attachments' metadata without contentBytes: a
// derived type's property is named qualified, as Graph requires
// (an unqualified contentId is 400 RequestBroker--ParseUri).
const attachmentSelect = "?$select=id,name,contentType,size,isInline,lastModifiedDateTime,microsoft.graph.fileAttachment/contentId," +
	"microsoft.graph.fileAttachment/contentLocation" +
	"&$expand=microsoft.graph.itemattachment/item"

var mailAttachmentDetails = &Details{
	Table: mailAttachments,
	// hasAttachments leaves inline attachments out (resources/message), so
	// an HTML body naming a cid: image is read too.
	Wanted: func(raw []byte) bool {
		return topString(raw, `"hasAttachments"`) == "true" || containsAt(raw, `cid:`, 3)
	},
	Version: func(raw []byte) string {
		if v := topString(raw, `"changeKey"`); v != "" {
			return v
		}
		return topString(raw, `"lastModifiedDateTime"`)
	},
	Path: func(user, _, msg string) string {
		return user + "/messages/" + url.PathEscape(msg) + "/attachments" + attachmentSelect
	},
	ContentPath: func(user, msg, id string) string {
		return user + "/messages/" + url.PathEscape(msg) + "/attachments/" + url.PathEscape(id) + "/$value"
	},
}

var mailAttachments = &Table{
	Name: "mail_attachments", Item: "attachment",
	Columns: []Column{{"id", Key}, {"user_id", Key}, {"message_id", Text}, {"name", Text}, {"content_type", Text},
		{"size", Value}, {"is_inline", Value}, {"content_id", Text}, {"last_modified_at", Time}, {"kind", Text},
		{"item_type", Text}, {"raw", JSON}},
	Seen:      true,
	Container: "message_id",
	Map:       mapAttachment,
}

func mapAttachment(raw []byte, c MapContext) (Row, error) {
	a, err := DecodeAttachment(raw)
	if err != nil {
		return Row{}, err
	}
	var itemType string
	if len(a.Item) > 0 {
		itemType = strings.TrimPrefix(topString(a.Item, `"@odata.type"`), "#microsoft.graph.")
	}
	return Row{Values: []any{a.ID, c.User, c.Container, a.Name, a.ContentType, &a.Size, &a.IsInline, a.ContentID,
		a.LastModifiedDateTime, a.Kind(), itemType, raw}}, nil
}

// topString returns a top-level member's value as text (a string's
// content, or the literal), "" when absent or null.
func topString(raw []byte, quotedKey string) string {
	var out string
	jsonscan.Members(raw, func(key, val []byte) bool {
		if string(key) != quotedKey {
			return true
		}
		switch {
		case len(val) >= 2 && val[0] == '"':
			out, _ = str(val)
		case string(val) != "null":
			out = string(val)
		}
		return false
	})
	return out
}
