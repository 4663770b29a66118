-- Teams chats: the chats a user takes part in, their members, and their
-- messages. There is no chat delta in Graph v1.0: the chat list is read in
-- full each pass and messages are read newest-modified first from a
-- per-chat watermark kept in sync_state.

CREATE TABLE chats (
    connection_id   bigint NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    id              text NOT NULL,
    user_id         text NOT NULL DEFAULT '',
    topic           text,
    chat_type       text,
    created_at      timestamptz,
    last_updated_at timestamptz,
    web_url         text,
    tenant_id       text,
    raw             jsonb NOT NULL,
    deleted_at      timestamptz,
    synced_at       timestamptz NOT NULL DEFAULT now(),
    seen_at         timestamptz,
    PRIMARY KEY (connection_id, id)
);
CREATE INDEX chats_user_idx ON chats (connection_id, user_id) WHERE deleted_at IS NULL;

CREATE TABLE chat_members (
    connection_id             bigint NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    chat_id                   text NOT NULL,
    id                        text NOT NULL,
    user_id                   text,
    display_name              text,
    email                     text,
    roles                     text[],
    tenant_id                 text,
    visible_history_start_at  timestamptz,
    raw                       jsonb NOT NULL,
    synced_at                 timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, chat_id, id),
    FOREIGN KEY (connection_id, chat_id) REFERENCES chats (connection_id, id) ON DELETE CASCADE
);
CREATE INDEX chat_members_user_idx ON chat_members (user_id);

CREATE TABLE chat_messages (
    connection_id       bigint NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    chat_id             text NOT NULL,
    id                  text NOT NULL,
    user_id             text NOT NULL DEFAULT '',
    message_type        text,
    sender_user_id      text,
    sender_name         text,
    body_content_type   text,
    body_content        text,
    subject             text,
    importance          text,
    reply_to_id         text,
    created_at          timestamptz,
    last_modified_at    timestamptz,
    last_edited_at      timestamptz,
    mentions            jsonb,
    attachments         jsonb,
    raw                 jsonb NOT NULL,
    deleted_at          timestamptz,
    synced_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, chat_id, id)
);
CREATE INDEX chat_messages_modified_idx ON chat_messages (connection_id, chat_id, last_modified_at);
CREATE INDEX chat_messages_sender_idx ON chat_messages (sender_user_id);

COMMENT ON TABLE chats IS 'Teams chats (one-on-one, group, meeting) of the synced users, from {user}/chats?$expand=members, read in full each pass.';
COMMENT ON COLUMN chats.connection_id IS 'The connection this row was synced through.';
COMMENT ON COLUMN chats.id IS 'Graph id of the chat (19:...@thread.v2 or 19:..@unq.gbl.spaces).';
COMMENT ON COLUMN chats.user_id IS 'Entra object id of the synced user whose chat list last reported the chat (application connections sync many users).';
COMMENT ON COLUMN chats.topic IS 'Chat title; NULL for one-on-one chats and untitled group chats.';
COMMENT ON COLUMN chats.chat_type IS 'oneOnOne, group or meeting.';
COMMENT ON COLUMN chats.created_at IS 'createdDateTime.';
COMMENT ON COLUMN chats.last_updated_at IS 'lastUpdatedDateTime: documented to move when the chat is renamed or its members change; it also moves with new messages.';
COMMENT ON COLUMN chats.web_url IS 'Link that opens the chat in Teams.';
COMMENT ON COLUMN chats.tenant_id IS 'Entra tenant id in which the chat was created.';
COMMENT ON COLUMN chats.raw IS 'The chat as Graph sent it, members included.';
COMMENT ON COLUMN chats.deleted_at IS 'When graphsync learnt the chat left the user''s chat list; NULL while it is listed.';
COMMENT ON COLUMN chats.synced_at IS 'When the row last changed in this table.';
COMMENT ON COLUMN chats.seen_at IS 'Unused for chats (their list is compared whole); kept for the shape every synced table shares.';

COMMENT ON TABLE chat_members IS 'Members of each chat; a chat''s rows are replaced whenever the chat changes, so members who left are gone.';
COMMENT ON COLUMN chat_members.connection_id IS 'The connection this row was synced through.';
COMMENT ON COLUMN chat_members.chat_id IS 'Graph id of the chat (chats.id).';
COMMENT ON COLUMN chat_members.id IS 'Graph id of the membership (conversationMember id), not of the user.';
COMMENT ON COLUMN chat_members.user_id IS 'Entra object id of the member.';
COMMENT ON COLUMN chat_members.display_name IS 'Member display name.';
COMMENT ON COLUMN chat_members.email IS 'Member e-mail address, lower-cased.';
COMMENT ON COLUMN chat_members.roles IS 'Member roles (owner, guest); empty for plain members.';
COMMENT ON COLUMN chat_members.tenant_id IS 'Entra tenant id of the member (differs for external users).';
COMMENT ON COLUMN chat_members.visible_history_start_at IS 'From when the member can see the chat history.';
COMMENT ON COLUMN chat_members.raw IS 'The member as Graph sent it.';
COMMENT ON COLUMN chat_members.synced_at IS 'When the row was written.';

COMMENT ON TABLE chat_messages IS 'Messages of each chat, from chats/{id}/messages ordered by lastModifiedDateTime. Message ids are unique within a chat only.';
COMMENT ON COLUMN chat_messages.connection_id IS 'The connection this row was synced through.';
COMMENT ON COLUMN chat_messages.chat_id IS 'Graph id of the chat (chats.id).';
COMMENT ON COLUMN chat_messages.id IS 'Graph id of the message (epoch milliseconds as text), unique within its chat.';
COMMENT ON COLUMN chat_messages.user_id IS 'Entra object id of the synced user through whom the message was read.';
COMMENT ON COLUMN chat_messages.message_type IS 'message, chatEvent, typing, systemEventMessage or unknownFutureValue (system events).';
COMMENT ON COLUMN chat_messages.sender_user_id IS 'Entra object id of the sending user (from.user.id); NULL for system events and application senders.';
COMMENT ON COLUMN chat_messages.sender_name IS 'Display name of the sender (user or application).';
COMMENT ON COLUMN chat_messages.body_content_type IS 'text or html.';
COMMENT ON COLUMN chat_messages.body_content IS 'Message body; empty once the message is deleted.';
COMMENT ON COLUMN chat_messages.subject IS 'Message subject, rarely set in chats.';
COMMENT ON COLUMN chat_messages.importance IS 'normal, high or urgent.';
COMMENT ON COLUMN chat_messages.reply_to_id IS 'Id of the message this one replies to, if any.';
COMMENT ON COLUMN chat_messages.created_at IS 'createdDateTime.';
COMMENT ON COLUMN chat_messages.last_modified_at IS 'lastModifiedDateTime: moves on creation, edit, reaction and deletion; drives the incremental sync.';
COMMENT ON COLUMN chat_messages.last_edited_at IS 'lastEditedDateTime: when the content was last edited; NULL if never.';
COMMENT ON COLUMN chat_messages.mentions IS 'The mentions array as Graph sent it.';
COMMENT ON COLUMN chat_messages.attachments IS 'The attachments array as Graph sent it.';
COMMENT ON COLUMN chat_messages.raw IS 'The message as Graph sent it.';
COMMENT ON COLUMN chat_messages.deleted_at IS 'deletedDateTime: Graph keeps a deleted message with its id and an empty body, so the row stays and this is set; also set, to when graphsync learnt it, when the chat left the user''s list.';
COMMENT ON COLUMN chat_messages.synced_at IS 'When the row last changed in this table.';
