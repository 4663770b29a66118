package graphsync

import (
	"encoding/json"
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
