package graphsync

import (
	"encoding/json"
	"net/url"
	"strings"
	"time"
)

// MailFolder is an Outlook mail folder. mailFolders/delta returns the whole
// hierarchy flat; ParentFolderID rebuilds the tree.
type MailFolder struct {
	ID               string `json:"id"`
	DisplayName      string `json:"displayName,omitempty"`
	ParentFolderID   string `json:"parentFolderId,omitempty"`
	ChildFolderCount int    `json:"childFolderCount,omitempty"`
	UnreadItemCount  int    `json:"unreadItemCount,omitempty"`
	TotalItemCount   int    `json:"totalItemCount,omitempty"`
	IsHidden         bool   `json:"isHidden,omitempty"`
}

// Message is an Outlook message. In a delta round an updated message may
// carry only its id and the changed properties: absent fields decode as
// zero values, so merge raw JSON rather than overwrite with a decoded one.
type Message struct {
	ID                         string        `json:"id"`
	ETag                       string        `json:"@odata.etag,omitempty"`
	ChangeKey                  string        `json:"changeKey,omitempty"`
	CreatedDateTime            time.Time     `json:"createdDateTime"`
	LastModifiedDateTime       time.Time     `json:"lastModifiedDateTime"`
	ReceivedDateTime           time.Time     `json:"receivedDateTime"`
	SentDateTime               time.Time     `json:"sentDateTime"`
	Subject                    string        `json:"subject,omitempty"`
	BodyPreview                string        `json:"bodyPreview,omitempty"`
	Body                       *ItemBody     `json:"body,omitempty"`
	UniqueBody                 *ItemBody     `json:"uniqueBody,omitempty"`
	Importance                 string        `json:"importance,omitempty"`
	ParentFolderID             string        `json:"parentFolderId,omitempty"`
	ConversationID             string        `json:"conversationId,omitempty"`
	InternetMessageID          string        `json:"internetMessageId,omitempty"`
	HasAttachments             bool          `json:"hasAttachments,omitempty"`
	IsRead                     bool          `json:"isRead,omitempty"`
	IsDraft                    bool          `json:"isDraft,omitempty"`
	IsReadReceiptRequested     bool          `json:"isReadReceiptRequested,omitempty"`
	IsDeliveryReceiptRequested bool          `json:"isDeliveryReceiptRequested,omitempty"`
	InferenceClassification    string        `json:"inferenceClassification,omitempty"`
	WebLink                    string        `json:"webLink,omitempty"`
	Categories                 []string      `json:"categories,omitempty"`
	Sender                     *Recipient    `json:"sender,omitempty"`
	From                       *Recipient    `json:"from,omitempty"`
	ToRecipients               []Recipient   `json:"toRecipients,omitempty"`
	CcRecipients               []Recipient   `json:"ccRecipients,omitempty"`
	BccRecipients              []Recipient   `json:"bccRecipients,omitempty"`
	ReplyTo                    []Recipient   `json:"replyTo,omitempty"`
	Flag                       *FollowupFlag `json:"flag,omitempty"`
}

// FollowupFlag is a message's follow-up flag.
type FollowupFlag struct {
	FlagStatus        string            `json:"flagStatus,omitempty"` // notFlagged, flagged, complete
	StartDateTime     *DateTimeTimeZone `json:"startDateTime,omitempty"`
	DueDateTime       *DateTimeTimeZone `json:"dueDateTime,omitempty"`
	CompletedDateTime *DateTimeTimeZone `json:"completedDateTime,omitempty"`
}

// DecodeMailFolder decodes one mailFolders/delta entry.
func DecodeMailFolder(raw json.RawMessage) (MailFolder, error) {
	return decode[MailFolder]("mailFolder", raw)
}

// DecodeMessage decodes one messages/delta entry. Its Body and UniqueBody
// carry the content type only: the content, most of a message's bytes, stays
// in raw, where graphsync stores it. raw must be valid JSON, as the items of
// a Page are (GetPage validates the whole body once).
func DecodeMessage(raw json.RawMessage) (Message, error) {
	return decodeMessage(raw)
}

// Mail is Outlook mail: the folder hierarchy through mailFolders/delta, then
// every live folder's messages through their own messages/delta.
var Mail = &Resource{
	name: "mail", service: Outlook, delegated: "Mail.Read", application: "Mail.Read", shared: "Mail.Read.Shared",
	shape: FolderTree, folders: mailFolders, items: mailMessages,
	notify: outlookNotifications("messages"),
	// The Graph client caps requests in flight per mailbox on top of it.
	parallel: 4,
}

var mailFolders = &Table{
	Name: "mail_folders", Item: "mail folder", Label: "display_name", Size: "total_item_count",
	Columns: []Column{{"id", Key}, {"user_id", Key}, {"display_name", Text}, {"parent_folder_id", Text},
		{"child_folder_count", Value}, {"unread_item_count", Value}, {"total_item_count", Value},
		{"is_hidden", Value}, {"raw", JSON}},
	// Every full folder carries parentFolderId (the root's names
	// msgfolderroot's parent).
	Full:     hasKey("parentFolderId"),
	Path:     func(user, _ string) string { return user + "/mailFolders/delta" },
	Seen:     true,
	Cascades: []Cascade{{Table: mailMessages, Column: "folder_id"}},
	Map: func(raw []byte, c MapContext) (Row, error) {
		f, err := DecodeMailFolder(raw)
		return Row{Values: []any{f.ID, c.User, f.DisplayName, f.ParentFolderID, i32(f.ChildFolderCount),
			i32(f.UnreadItemCount), i32(f.TotalItemCount), &f.IsHidden, raw}}, err
	},
}

var mailMessages = &Table{
	Name: "mail_messages", Item: "message",
	Columns: []Column{{"id", Key}, {"user_id", Key}, {"folder_id", Text}, {"subject", Text},
		{"from_address", Text}, {"from_name", Text}, {"sender_address", Text},
		{"to_addresses", Texts}, {"cc_addresses", Texts}, {"bcc_addresses", Texts},
		{"received_at", Time}, {"sent_at", Time}, {"created_at", Time}, {"last_modified_at", Time},
		{"is_read", Value}, {"is_draft", Value}, {"importance", Text}, {"has_attachments", Value},
		{"conversation_id", Text}, {"internet_message_id", Text}, {"body_preview", Text},
		{"body_content_type", Text}, {"categories", Texts}, {"flag_status", Text},
		{"inference_classification", Text}, {"web_link", Text}, {"raw", JSON}},
	// Every full message carries receivedDateTime.
	Full: hasKey("receivedDateTime"),
	Path: func(user, folder string) string {
		return user + "/mailFolders/" + url.PathEscape(folder) + "/messages/delta"
	},
	Seen:      true,
	Container: "folder_id",
	Map:       mapMessage,
	// A folder's messages listed newest first, ids only
	// (api/mailfolder-list-messages).
	Reconcile: &Reconcile{
		IDs: func(user, folder string) string {
			return user + "/mailFolders/" + url.PathEscape(folder) + "/messages?$select=id&$top=1000"
		},
		Item: func(user, _, id string) string { return user + "/messages/" + url.PathEscape(id) },
	},
	Details: mailAttachmentDetails,
	// A message's attachments go with it, and come back with it.
	Cascades: []Cascade{{Table: mailAttachments, Column: "message_id", Revive: true}},
}

func mapMessage(raw []byte, c MapContext) (Row, error) {
	m, err := DecodeMessage(raw)
	if err != nil {
		return Row{}, err
	}
	if m.ParentFolderID == "" {
		m.ParentFolderID = c.Container
	}
	var from, fromName, sender, bodyType, flag string
	if m.From != nil {
		from, fromName = strings.ToLower(m.From.EmailAddress.Address), m.From.EmailAddress.Name
	}
	if m.Sender != nil {
		sender = strings.ToLower(m.Sender.EmailAddress.Address)
	}
	if m.Body != nil {
		bodyType = strings.ToLower(m.Body.ContentType)
	}
	if m.Flag != nil {
		flag = m.Flag.FlagStatus
	}
	return Row{Values: []any{m.ID, c.User, m.ParentFolderID, m.Subject, from, fromName, sender,
		addresses(m.ToRecipients), addresses(m.CcRecipients), addresses(m.BccRecipients),
		m.ReceivedDateTime, m.SentDateTime, m.CreatedDateTime, m.LastModifiedDateTime,
		&m.IsRead, &m.IsDraft, m.Importance, &m.HasAttachments, m.ConversationID, m.InternetMessageID,
		m.BodyPreview, bodyType, m.Categories, flag, m.InferenceClassification, m.WebLink, raw}}, nil
}

// addresses lists recipients' addresses, lower-cased, without blanks.
func addresses(rs []Recipient) []string {
	if len(rs) == 0 {
		return nil
	}
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		if a := strings.ToLower(strings.TrimSpace(r.EmailAddress.Address)); a != "" {
			out = append(out, a)
		}
	}
	return out
}

func i32(v int) *int32 {
	x := int32(v)
	return &x
}
