package graphsync

import (
	"encoding/json"
	"time"
)

// Chat is a Teams one-on-one, group or meeting chat.
type Chat struct {
	ID                  string               `json:"id"`
	Topic               string               `json:"topic,omitempty"`
	ChatType            string               `json:"chatType,omitempty"` // oneOnOne, group, meeting
	CreatedDateTime     time.Time            `json:"createdDateTime"`
	LastUpdatedDateTime time.Time            `json:"lastUpdatedDateTime"`
	TenantID            string               `json:"tenantId,omitempty"`
	WebURL              string               `json:"webUrl,omitempty"`
	Members             []ConversationMember `json:"members,omitempty"` // with $expand=members
}

// ConversationMember is a chat member.
type ConversationMember struct {
	ID                          string    `json:"id"`
	DisplayName                 string    `json:"displayName,omitempty"`
	Roles                       []string  `json:"roles,omitempty"`
	UserID                      string    `json:"userId,omitempty"`
	Email                       string    `json:"email,omitempty"`
	TenantID                    string    `json:"tenantId,omitempty"`
	VisibleHistoryStartDateTime time.Time `json:"visibleHistoryStartDateTime"`
}

// ChatMessage is a message in a chat or channel. Deleted messages keep
// their id and have DeletedDateTime set. System events have MessageType
// unknownFutureValue (or systemEventMessage with Prefer:
// include-unknown-enum-members), no From, and EventDetail.
type ChatMessage struct {
	ID                   string            `json:"id"`
	ReplyToID            string            `json:"replyToId,omitempty"`
	ETag                 string            `json:"etag,omitempty"`
	MessageType          string            `json:"messageType,omitempty"`
	CreatedDateTime      time.Time         `json:"createdDateTime"`
	LastModifiedDateTime time.Time         `json:"lastModifiedDateTime"`
	LastEditedDateTime   *time.Time        `json:"lastEditedDateTime,omitempty"`
	DeletedDateTime      *time.Time        `json:"deletedDateTime,omitempty"`
	Subject              string            `json:"subject,omitempty"`
	Summary              string            `json:"summary,omitempty"`
	ChatID               string            `json:"chatId,omitempty"`
	Importance           string            `json:"importance,omitempty"`
	Locale               string            `json:"locale,omitempty"`
	WebURL               string            `json:"webUrl,omitempty"`
	From                 *IdentitySet      `json:"from,omitempty"`
	Body                 *ItemBody         `json:"body,omitempty"`
	ChannelIdentity      *ChannelIdentity  `json:"channelIdentity,omitempty"`
	Attachments          []json.RawMessage `json:"attachments,omitempty"`
	Mentions             []json.RawMessage `json:"mentions,omitempty"`
	Reactions            []json.RawMessage `json:"reactions,omitempty"`
	EventDetail          json.RawMessage   `json:"eventDetail,omitempty"`
}

// ChannelIdentity places a channel message.
type ChannelIdentity struct {
	TeamID    string `json:"teamId,omitempty"`
	ChannelID string `json:"channelId,omitempty"`
}

// DecodeChat decodes one chat.
func DecodeChat(raw json.RawMessage) (Chat, error) {
	return decode[Chat]("chat", raw)
}

// DecodeChatMessage decodes one chat message.
func DecodeChatMessage(raw json.RawMessage) (ChatMessage, error) {
	return decode[ChatMessage]("chatMessage", raw)
}
