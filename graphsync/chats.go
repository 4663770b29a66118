package graphsync

import (
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/graphsync/graphsync/internal/jsonscan"
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
	// LastMessagePreview is the newest message, with
	// $expand=lastMessagePreview; nil in a chat without messages.
	LastMessagePreview *ChatMessageInfo `json:"lastMessagePreview,omitempty"`
}

// ChatMessageInfo is the summary of a chat's newest message.
type ChatMessageInfo struct {
	ID              string    `json:"id"`
	CreatedDateTime time.Time `json:"createdDateTime"`
	IsDeleted       bool      `json:"isDeleted,omitempty"`
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

// Chats are Teams chats: the user's whole chat list with members (it has no
// delta), then each chat's messages newest-modified first from a per-chat
// watermark (Graph v1.0 has no chat message delta).
var Chats = &Resource{
	name: "chats", service: Teams, delegated: "Chat.Read", application: "Chat.Read.All",
	shape: ChatList, folders: chatList, items: chatMessages,
	// Past an hour, a chat message subscription needs a lifecycle URL,
	// which graphsync always gives.
	notify: &Notifications{
		Resource:    func(user string) string { return "users/" + url.PathEscape(user) + "/chats/getAllMessages" },
		ChangeTypes: "created,updated,deleted",
		MaxLifetime: 4320 * time.Minute,
	},
	// The Graph client's Teams limiter paces them per tenant.
	parallel: 4,
}

// ChatListPageSize is the $top of the chat list: the largest Graph accepts.
const ChatListPageSize = 50

var chatList = &Table{
	Name: "chats", Item: "chat", Label: "topic",
	Columns: []Column{{"id", Key}, {"user_id", Key}, {"topic", Text}, {"chat_type", Text}, {"created_at", Time},
		{"last_updated_at", Time}, {"web_url", Text}, {"tenant_id", Text}, {"raw", JSON}},
	// The preview of each chat's newest message tells which chats have new
	// messages without asking each: Microsoft documents lastUpdatedDateTime
	// as moving only when a chat is renamed or its members change.
	Path: func(user, _ string) string {
		return user + "/chats?$expand=members,lastMessagePreview&$top=" + strconv.Itoa(ChatListPageSize)
	},
	Child:    chatMembers,
	Shared:   true,
	Cascades: []Cascade{{Table: chatMessages, Column: "chat_id", Revive: true}},
	Map:      mapChat,
}

var chatMembers = &Table{
	Name: "chat_members", Item: "chat member",
	Key: []string{"chat_id", "id"},
	Columns: []Column{{"id", Key}, {"user_id", Text}, {"display_name", Text}, {"email", Text}, {"roles", Texts},
		{"tenant_id", Text}, {"visible_history_start_at", Time}, {"raw", JSON}},
}

var chatMessages = &Table{
	Name: "chat_messages", Item: "chat message",
	// Message ids are unique within a chat only.
	Key: []string{"chat_id", "id"},
	Columns: []Column{{"chat_id", Key}, {"id", Key}, {"user_id", Key}, {"message_type", Text},
		{"sender_user_id", Text}, {"sender_name", Text}, {"body_content_type", Text}, {"body_content", Text},
		{"subject", Text}, {"importance", Text}, {"reply_to_id", Text}, {"created_at", Time},
		{"last_modified_at", Time}, {"last_edited_at", Time}, {"deleted_at", Time}, {"mentions", JSON},
		{"attachments", JSON}, {"raw", JSON}},
	Path: func(user, chat string) string {
		return user + "/chats/" + url.PathEscape(chat) + "/messages"
	},
	Container:   "chat_id",
	Shared:      true,
	DeletedFrom: "deletedDateTime",
	Map:         mapChatMessage,
}

func mapChat(raw []byte, c MapContext) (Row, error) {
	ch, err := DecodeChat(raw)
	if err != nil {
		return Row{}, err
	}
	row := Row{Values: []any{ch.ID, c.User, ch.Topic, ch.ChatType, ch.CreatedDateTime, ch.LastUpdatedDateTime,
		ch.WebURL, ch.TenantID, StoredChat(raw)}}
	// Members come from the same object: each keeps its own raw JSON.
	var full struct {
		Members []json.RawMessage `json:"members"`
	}
	_ = json.Unmarshal(raw, &full) // raw decoded as a Chat already
	for i, m := range ch.Members {
		id := m.ID
		if id == "" {
			// Membership ids are documented; fall back to the user so the
			// row keeps a key.
			id = m.UserID
		}
		mraw := []byte("{}")
		if i < len(full.Members) {
			mraw = full.Members[i]
		}
		visible := m.VisibleHistoryStartDateTime
		if visible.Year() <= 1 {
			visible = time.Time{} // 0001-01-01: the whole history
		}
		row.Children = append(row.Children, []any{id, m.UserID, m.DisplayName, strings.ToLower(m.Email), m.Roles,
			m.TenantID, visible, mraw})
	}
	return row, nil
}

func mapChatMessage(raw []byte, c MapContext) (Row, error) {
	m, err := DecodeChatMessage(raw)
	if err != nil {
		return Row{}, err
	}
	p := partsOf(m)
	return Row{Values: []any{c.Container, m.ID, c.User, m.MessageType, p.senderID, p.senderName, p.bodyType, p.body,
		m.Subject, m.Importance, m.ReplyToID, m.CreatedDateTime, m.LastModifiedDateTime, p.edited, p.deleted,
		p.mentions, p.attachments, raw}}, nil
}

// messageParts are the columns a chat or channel message maps to beyond
// its own properties.
type messageParts struct {
	senderID, senderName, bodyType, body string
	edited, deleted                      time.Time
	mentions, attachments                []byte
}

func partsOf(m ChatMessage) messageParts {
	var p messageParts
	if m.LastEditedDateTime != nil {
		p.edited = *m.LastEditedDateTime
	}
	if m.DeletedDateTime != nil {
		p.deleted = *m.DeletedDateTime
	}
	if m.From != nil {
		switch {
		case m.From.User != nil:
			p.senderID, p.senderName = m.From.User.ID, m.From.User.DisplayName
		case m.From.Application != nil:
			p.senderName = m.From.Application.DisplayName
		}
	}
	if m.Body != nil {
		p.bodyType, p.body = strings.ToLower(m.Body.ContentType), m.Body.Content
	}
	if m.Mentions != nil {
		p.mentions, _ = json.Marshal(m.Mentions) // raw messages re-encode as they came
	}
	if m.Attachments != nil {
		p.attachments, _ = json.Marshal(m.Attachments)
	}
	return p
}

// StoredChat is a chat as stored: without the preview of its newest
// message, which changes with every message (chat_messages holds them) and
// would rewrite the chat's row each time.
func StoredChat(raw []byte) []byte {
	return withoutMembers(raw, `"lastMessagePreview"`, `"lastMessagePreview@odata.context"`)
}

// withoutMembers returns the JSON object raw without the given (quoted)
// top-level keys; raw itself when it cannot be read.
func withoutMembers(raw []byte, keys ...string) []byte {
	out := make([]byte, 0, len(raw))
	out = append(out, '{')
	ok := jsonscan.Members(raw, func(key, val []byte) bool {
		if slices.Contains(keys, string(key)) {
			return true
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(append(append(out, key...), ':'), val...)
		return true
	})
	if !ok {
		return raw
	}
	return append(out, '}')
}
