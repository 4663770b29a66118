-- Teams channels: the teams a user joined, their channels, and the
-- channels' messages with their replies. Teams and channels are lists read
-- whole each pass; messages come through each channel's messages delta
-- with $expand=replies, a post's replies stored as rows of their own.

CREATE TABLE teams (
    connection_id   bigint NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    id              text NOT NULL,
    user_id         text NOT NULL DEFAULT '',
    display_name    text,
    description     text,
    visibility      text,
    specialization  text,
    is_archived     boolean,
    created_at      timestamptz,
    web_url         text,
    tenant_id       text,
    internal_id     text,
    raw             jsonb NOT NULL,
    deleted_at      timestamptz,
    synced_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, id)
);
CREATE INDEX teams_user_idx ON teams (connection_id, user_id) WHERE deleted_at IS NULL;

CREATE TABLE channels (
    connection_id    bigint NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    id               text NOT NULL,
    user_id          text NOT NULL DEFAULT '',
    team_id          text,
    display_name     text,
    description      text,
    membership_type  text,
    email            text,
    created_at       timestamptz,
    web_url          text,
    tenant_id        text,
    raw              jsonb NOT NULL,
    deleted_at       timestamptz,
    synced_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, id)
);
CREATE INDEX channels_team_idx ON channels (connection_id, team_id);
CREATE INDEX channels_user_idx ON channels (connection_id, user_id) WHERE deleted_at IS NULL;

CREATE TABLE channel_messages (
    connection_id       bigint NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    channel_id          text NOT NULL,
    id                  text NOT NULL,
    user_id             text NOT NULL DEFAULT '',
    team_id             text,
    reply_to_id         text,
    message_type        text,
    sender_user_id      text,
    sender_name         text,
    body_content_type   text,
    body_content        text,
    subject             text,
    importance          text,
    created_at          timestamptz,
    last_modified_at    timestamptz,
    last_edited_at      timestamptz,
    mentions            jsonb,
    attachments         jsonb,
    web_url             text,
    raw                 jsonb NOT NULL,
    deleted_at          timestamptz,
    synced_at           timestamptz NOT NULL DEFAULT now(),
    seen_at             timestamptz,
    PRIMARY KEY (connection_id, channel_id, id)
);
CREATE INDEX channel_messages_team_idx ON channel_messages (connection_id, team_id);
CREATE INDEX channel_messages_reply_idx ON channel_messages (connection_id, channel_id, reply_to_id);
CREATE INDEX channel_messages_sender_idx ON channel_messages (sender_user_id);

COMMENT ON TABLE teams IS 'Teams the synced users joined, from {user}/joinedTeams, each read whole with GET /teams/{id} (joinedTeams lists only id, displayName and description); the list is read in full each pass.';
COMMENT ON COLUMN teams.connection_id IS 'The connection this row was synced through.';
COMMENT ON COLUMN teams.id IS 'Graph id of the team, which is also the id of its Microsoft 365 group.';
COMMENT ON COLUMN teams.user_id IS 'Entra object id of the synced user whose team list last reported the team (application connections sync many users; a team is stored once per connection).';
COMMENT ON COLUMN teams.display_name IS 'Team name.';
COMMENT ON COLUMN teams.description IS 'Team description.';
COMMENT ON COLUMN teams.visibility IS 'public, private or hiddenMembership.';
COMMENT ON COLUMN teams.specialization IS 'none, educationStandard, educationClass, healthcareStandard and the other specializations Graph documents.';
COMMENT ON COLUMN teams.is_archived IS 'Whether the team is archived (read-only).';
COMMENT ON COLUMN teams.created_at IS 'createdDateTime.';
COMMENT ON COLUMN teams.web_url IS 'Link that opens the team in Teams.';
COMMENT ON COLUMN teams.tenant_id IS 'Entra tenant id of the team.';
COMMENT ON COLUMN teams.internal_id IS 'The team''s internal thread id (19:...@thread.tacv2).';
COMMENT ON COLUMN teams.raw IS 'The team as GET /teams/{id} returned it.';
COMMENT ON COLUMN teams.deleted_at IS 'When graphsync learnt the team left the user''s list of joined teams; NULL while it is listed. Its channels and messages are retired with it.';
COMMENT ON COLUMN teams.synced_at IS 'When the row last changed in this table.';

COMMENT ON TABLE channels IS 'Channels of the synced teams, from /teams/{id}/channels, read in full each pass: a delegated user sees the private channels they belong to, an application every channel.';
COMMENT ON COLUMN channels.connection_id IS 'The connection this row was synced through.';
COMMENT ON COLUMN channels.id IS 'Graph id of the channel (19:...@thread.tacv2), unique across teams.';
COMMENT ON COLUMN channels.user_id IS 'Entra object id of the synced user whose listing last reported the channel.';
COMMENT ON COLUMN channels.team_id IS 'Graph id of the channel''s team (teams.id).';
COMMENT ON COLUMN channels.display_name IS 'Channel name.';
COMMENT ON COLUMN channels.description IS 'Channel description; NULL when none.';
COMMENT ON COLUMN channels.membership_type IS 'standard, private or shared.';
COMMENT ON COLUMN channels.email IS 'E-mail address for sending messages to the channel; empty when none.';
COMMENT ON COLUMN channels.created_at IS 'createdDateTime.';
COMMENT ON COLUMN channels.web_url IS 'Link that opens the channel in Teams.';
COMMENT ON COLUMN channels.tenant_id IS 'Entra tenant id of the channel.';
COMMENT ON COLUMN channels.raw IS 'The channel as Graph sent it.';
COMMENT ON COLUMN channels.deleted_at IS 'When graphsync learnt the channel left its team''s listing (deleted, or a private channel the user left), or its team left the user''s list; NULL while listed. Its messages are retired with it.';
COMMENT ON COLUMN channels.synced_at IS 'When the row last changed in this table.';

COMMENT ON TABLE channel_messages IS 'Top-level messages (posts) of each channel and their replies, from /teams/{id}/channels/{id}/messages/delta?$expand=replies. The delta serves posts of the last eight months; a reply''s change reports its post again. Message ids are unique within a channel only.';
COMMENT ON COLUMN channel_messages.connection_id IS 'The connection this row was synced through.';
COMMENT ON COLUMN channel_messages.channel_id IS 'Graph id of the channel (channels.id).';
COMMENT ON COLUMN channel_messages.id IS 'Graph id of the message (epoch milliseconds as text), unique within its channel.';
COMMENT ON COLUMN channel_messages.user_id IS 'Entra object id of the synced user through whom the message was read.';
COMMENT ON COLUMN channel_messages.team_id IS 'Graph id of the channel''s team (channelIdentity.teamId).';
COMMENT ON COLUMN channel_messages.reply_to_id IS 'For a reply, the id of its post (a row of the same channel); NULL for a post.';
COMMENT ON COLUMN channel_messages.message_type IS 'message, systemEventMessage or unknownFutureValue (system events).';
COMMENT ON COLUMN channel_messages.sender_user_id IS 'Entra object id of the sending user (from.user.id); NULL for system events and application senders.';
COMMENT ON COLUMN channel_messages.sender_name IS 'Display name of the sender (user or application).';
COMMENT ON COLUMN channel_messages.body_content_type IS 'text or html.';
COMMENT ON COLUMN channel_messages.body_content IS 'Message body; empty once the message is deleted.';
COMMENT ON COLUMN channel_messages.subject IS 'Subject of a post; NULL when none (replies have none).';
COMMENT ON COLUMN channel_messages.importance IS 'normal, high or urgent.';
COMMENT ON COLUMN channel_messages.created_at IS 'createdDateTime.';
COMMENT ON COLUMN channel_messages.last_modified_at IS 'lastModifiedDateTime: moves on edit, reaction and deletion.';
COMMENT ON COLUMN channel_messages.last_edited_at IS 'lastEditedDateTime: when the content was last edited; NULL if never.';
COMMENT ON COLUMN channel_messages.mentions IS 'The mentions array as Graph sent it.';
COMMENT ON COLUMN channel_messages.attachments IS 'The attachments array as Graph sent it.';
COMMENT ON COLUMN channel_messages.web_url IS 'Link that opens the message in Teams.';
COMMENT ON COLUMN channel_messages.raw IS 'The message as Graph sent it; a post without its replies (they are rows of their own).';
COMMENT ON COLUMN channel_messages.deleted_at IS 'deletedDateTime: Graph keeps a deleted message with its id and an empty body, so the row stays and this is set; also set, to when graphsync learnt it, when the channel or team left the user''s lists, or when a full round (after the delta token expired) no longer saw the message (posts older than the delta''s eight months among them).';
COMMENT ON COLUMN channel_messages.synced_at IS 'When the row last changed in this table.';
COMMENT ON COLUMN channel_messages.seen_at IS 'When the channel''s last full round saw the message; a full round retires the messages it did not see.';

SELECT changes_track('teams', 'channels', '{id}', 'user_id');
SELECT changes_track('channels', 'channels', '{id}', 'user_id');
SELECT changes_track('channel_messages', 'channels', '{channel_id,id}', 'user_id');
