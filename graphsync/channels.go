package graphsync

import (
	"encoding/json"
	"net/url"
	"time"

	"github.com/graphsync/graphsync/internal/jsonscan"
)

// Team is a team as GET /teams/{id} serves it (joinedTeams lists only id,
// displayName and description, a documented known issue).
type Team struct {
	ID              string    `json:"id"`
	DisplayName     string    `json:"displayName,omitempty"`
	Description     string    `json:"description,omitempty"`
	Visibility      string    `json:"visibility,omitempty"`
	Specialization  string    `json:"specialization,omitempty"`
	IsArchived      *bool     `json:"isArchived,omitempty"`
	CreatedDateTime time.Time `json:"createdDateTime"`
	WebURL          string    `json:"webUrl,omitempty"`
	TenantID        string    `json:"tenantId,omitempty"`
	InternalID      string    `json:"internalId,omitempty"`
}

// Channel is a team's channel.
type Channel struct {
	ID              string    `json:"id"`
	DisplayName     string    `json:"displayName,omitempty"`
	Description     string    `json:"description,omitempty"`
	MembershipType  string    `json:"membershipType,omitempty"` // standard, private, shared
	Email           string    `json:"email,omitempty"`
	CreatedDateTime time.Time `json:"createdDateTime"`
	WebURL          string    `json:"webUrl,omitempty"`
	TenantID        string    `json:"tenantId,omitempty"`
}

// DecodeTeam decodes one team.
func DecodeTeam(raw json.RawMessage) (Team, error) { return decode[Team]("team", raw) }

// DecodeChannel decodes one channel.
func DecodeChannel(raw json.RawMessage) (Channel, error) { return decode[Channel]("channel", raw) }

// Channels are the Teams channels of the teams a user joined: the teams
// (joinedTeams, each read whole with GET /teams/{id}) and their channels
// are lists read whole each pass; each channel's messages come through
// the channel messages delta with their replies expanded. With application
// permissions the same calls serve every channel; the delta is not among
// the protected APIs Microsoft lists (teams-protected-apis), which listing
// or getting channel messages would be.
var Channels = &Resource{
	name: "channels", service: Teams, delegated: "ChannelMessage.Read.All", application: "ChannelMessage.Read.All",
	also:  []string{"Team.ReadBasic.All", "Channel.ReadBasic.All"},
	shape: ChannelTree, outer: teamsTable, folders: channelsTable, items: channelMessages,
	parallel: 4,
}

var teamsTable = &Table{
	Name: "teams", Item: "team", Label: "display_name",
	Columns: []Column{{"id", Key}, {"user_id", Key}, {"display_name", Text}, {"description", Text},
		{"visibility", Text}, {"specialization", Text}, {"is_archived", Value}, {"created_at", Time},
		{"web_url", Text}, {"tenant_id", Text}, {"internal_id", Text}, {"raw", JSON}},
	Path:   func(user, _ string) string { return user + "/joinedTeams" },
	Shared: true,
	Cascades: []Cascade{{Table: channelsTable, Column: "team_id", Revive: true},
		{Table: channelMessages, Column: "team_id", Revive: true}},
	Map: func(raw []byte, c MapContext) (Row, error) {
		t, err := DecodeTeam(raw)
		return Row{Values: []any{t.ID, c.User, t.DisplayName, t.Description, t.Visibility, t.Specialization,
			t.IsArchived, t.CreatedDateTime, t.WebURL, t.TenantID, t.InternalID, raw}}, err
	},
}

var channelsTable = &Table{
	Name: "channels", Item: "channel", Label: "display_name",
	Columns: []Column{{"id", Key}, {"user_id", Key}, {"team_id", Text}, {"display_name", Text},
		{"description", Text}, {"membership_type", Text}, {"email", Text}, {"created_at", Time},
		{"web_url", Text}, {"tenant_id", Text}, {"raw", JSON}},
	// The container is the team.
	Path:     func(_, team string) string { return "/teams/" + url.PathEscape(team) + "/channels" },
	Shared:   true,
	Cascades: []Cascade{{Table: channelMessages, Column: "channel_id", Revive: true}},
	Map: func(raw []byte, c MapContext) (Row, error) {
		ch, err := DecodeChannel(raw)
		return Row{Values: []any{ch.ID, c.User, c.Container, ch.DisplayName, ch.Description, ch.MembershipType,
			ch.Email, ch.CreatedDateTime, ch.WebURL, ch.TenantID, raw}}, err
	},
}

var channelMessages = &Table{
	Name: "channel_messages", Item: "channel message",
	// Message ids (their creation time in milliseconds) are unique within
	// a channel only; a reply shares its post's id space.
	Key: []string{"channel_id", "id"},
	Columns: []Column{{"channel_id", Key}, {"id", Key}, {"user_id", Key}, {"team_id", Text}, {"reply_to_id", Text},
		{"message_type", Text}, {"sender_user_id", Text}, {"sender_name", Text}, {"body_content_type", Text},
		{"body_content", Text}, {"subject", Text}, {"importance", Text}, {"created_at", Time},
		{"last_modified_at", Time}, {"last_edited_at", Time}, {"deleted_at", Time}, {"mentions", JSON},
		{"attachments", JSON}, {"web_url", Text}, {"raw", JSON}},
	Container:   "channel_id",
	Seen:        true,
	Shared:      true,
	DeletedFrom: "deletedDateTime",
	Map:         mapChannelMessage,
}

// ChannelMessagesDelta is the first request of a channel's messages delta:
// top-level messages of the last eight months with their replies (a new,
// edited or deleted reply reports its post again).
func ChannelMessagesDelta(team, channel string) string {
	return "/teams/" + url.PathEscape(team) + "/channels/" + url.PathEscape(channel) + "/messages/delta?$expand=replies"
}

func mapChannelMessage(raw []byte, c MapContext) (Row, error) {
	m, err := DecodeChatMessage(raw)
	if err != nil {
		return Row{}, err
	}
	var team string
	if m.ChannelIdentity != nil {
		team = m.ChannelIdentity.TeamID
	}
	p := partsOf(m)
	return Row{Values: []any{c.Container, m.ID, c.User, team, m.ReplyToID, m.MessageType, p.senderID, p.senderName,
		p.bodyType, p.body, m.Subject, m.Importance, m.CreatedDateTime, m.LastModifiedDateTime, p.edited, p.deleted,
		p.mentions, p.attachments, m.WebURL, raw}}, nil
}

// repliesKeys are the members $expand=replies adds to a post.
var repliesKeys = []string{`"replies"`, `"replies@odata.count"`, `"replies@odata.nextLink"`, `"replies@odata.context"`}

// SplitPost cuts a channel post as the delta serves it with
// $expand=replies into the post as stored (without its replies, which are
// rows of their own and would rewrite it with each change) and its replies;
// more is the link to the replies beyond those inlined (Graph inlines up
// to 1,000), empty when there are none.
func SplitPost(raw []byte) (post []byte, replies []json.RawMessage, more string) {
	found := false
	jsonscan.Members(raw, func(key, val []byte) bool {
		switch string(key) {
		case `"replies"`:
			found = true
			_ = json.Unmarshal(val, &replies) // a page item: valid JSON
		case `"replies@odata.nextLink"`:
			found = true
			_ = json.Unmarshal(val, &more)
		case `"replies@odata.count"`, `"replies@odata.context"`:
			found = true
		}
		return true
	})
	if !found {
		return raw, nil, ""
	}
	return withoutMembers(raw, repliesKeys...), replies, more
}
