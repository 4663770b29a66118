-- Outlook mail. Every synced table shares the columns connection_id, id, raw,
-- deleted_at, synced_at and seen_at, with a unique key on (connection_id, id).

CREATE TABLE mail_folders (
    connection_id      bigint NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    id                 text NOT NULL,
    user_id            text NOT NULL DEFAULT '',
    display_name       text,
    parent_folder_id   text,
    child_folder_count integer,
    unread_item_count  integer,
    total_item_count   integer,
    is_hidden          boolean,
    raw                jsonb NOT NULL,
    deleted_at         timestamptz,
    synced_at          timestamptz NOT NULL DEFAULT now(),
    seen_at            timestamptz,
    PRIMARY KEY (connection_id, id)
);

CREATE TABLE mail_messages (
    connection_id            bigint NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    id                       text NOT NULL,
    user_id                  text NOT NULL DEFAULT '',
    folder_id                text,
    subject                  text,
    from_address             text,
    from_name                text,
    sender_address           text,
    to_addresses             text[],
    cc_addresses             text[],
    bcc_addresses            text[],
    received_at              timestamptz,
    sent_at                  timestamptz,
    created_at               timestamptz,
    last_modified_at         timestamptz,
    is_read                  boolean,
    is_draft                 boolean,
    importance               text,
    has_attachments          boolean,
    conversation_id          text,
    internet_message_id      text,
    body_preview             text,
    body_content_type        text,
    categories               text[],
    flag_status              text,
    inference_classification text,
    web_link                 text,
    raw                      jsonb NOT NULL,
    deleted_at               timestamptz,
    synced_at                timestamptz NOT NULL DEFAULT now(),
    seen_at                  timestamptz,
    PRIMARY KEY (connection_id, id)
);
CREATE INDEX mail_messages_folder_idx ON mail_messages (connection_id, folder_id) WHERE deleted_at IS NULL;
CREATE INDEX mail_messages_received_idx ON mail_messages (received_at);
CREATE INDEX mail_messages_from_idx ON mail_messages (from_address);

COMMENT ON TABLE mail_folders IS 'Outlook mail folders, from mailFolders/delta.';
COMMENT ON COLUMN mail_folders.connection_id IS 'The connection this row was synced through.';
COMMENT ON COLUMN mail_folders.id IS 'Graph id of the folder.';
COMMENT ON COLUMN mail_folders.user_id IS 'Entra object id of the mailbox owner.';
COMMENT ON COLUMN mail_folders.parent_folder_id IS 'Graph id of the parent folder; rebuild the tree with it.';
COMMENT ON COLUMN mail_folders.raw IS 'The folder as Graph sent it.';
COMMENT ON COLUMN mail_folders.deleted_at IS 'When graphsync learnt the folder was deleted; NULL while it exists.';
COMMENT ON COLUMN mail_folders.synced_at IS 'When the row last changed in this table.';
COMMENT ON COLUMN mail_folders.seen_at IS 'When a full enumeration last saw the row (used to retire rows a resync no longer sees).';

COMMENT ON TABLE mail_messages IS 'Outlook messages, from each folder''s messages/delta. Bodies are in raw->''body''.';
COMMENT ON COLUMN mail_messages.connection_id IS 'The connection this row was synced through.';
COMMENT ON COLUMN mail_messages.id IS 'Immutable Graph id of the message (stable across moves).';
COMMENT ON COLUMN mail_messages.user_id IS 'Entra object id of the mailbox owner.';
COMMENT ON COLUMN mail_messages.folder_id IS 'Graph id of the folder holding the message (parentFolderId).';
COMMENT ON COLUMN mail_messages.from_address IS 'From e-mail address, lower-cased.';
COMMENT ON COLUMN mail_messages.sender_address IS 'Sender e-mail address (differs from from_address when sent on behalf), lower-cased.';
COMMENT ON COLUMN mail_messages.to_addresses IS 'To recipients'' addresses, lower-cased.';
COMMENT ON COLUMN mail_messages.cc_addresses IS 'Cc recipients'' addresses, lower-cased.';
COMMENT ON COLUMN mail_messages.bcc_addresses IS 'Bcc recipients'' addresses, lower-cased.';
COMMENT ON COLUMN mail_messages.received_at IS 'receivedDateTime.';
COMMENT ON COLUMN mail_messages.sent_at IS 'sentDateTime.';
COMMENT ON COLUMN mail_messages.created_at IS 'createdDateTime in the mailbox.';
COMMENT ON COLUMN mail_messages.last_modified_at IS 'lastModifiedDateTime.';
COMMENT ON COLUMN mail_messages.importance IS 'low, normal or high.';
COMMENT ON COLUMN mail_messages.body_preview IS 'First 255 characters of the body, as Graph computes it.';
COMMENT ON COLUMN mail_messages.body_content_type IS 'text or html.';
COMMENT ON COLUMN mail_messages.flag_status IS 'notFlagged, flagged or complete.';
COMMENT ON COLUMN mail_messages.inference_classification IS 'focused or other.';
COMMENT ON COLUMN mail_messages.raw IS 'The message as Graph sent it (updates merged), body included.';
COMMENT ON COLUMN mail_messages.deleted_at IS 'When graphsync learnt the message was deleted (or its folder was); NULL while it exists.';
COMMENT ON COLUMN mail_messages.synced_at IS 'When the row last changed in this table.';
COMMENT ON COLUMN mail_messages.seen_at IS 'When a full enumeration last saw the row (used to retire rows a resync no longer sees).';
