-- Mail attachments: their metadata for every message that has any, and
-- optionally their content, kept in PostgreSQL large objects. Messages
-- delta does not carry attachments: a message whose version changed is
-- queued (detail_fetches) in the transaction that writes it, and its
-- attachments are listed after that page commits, so a crash loses
-- nothing and listing again changes nothing.

CREATE TABLE mail_attachments (
    connection_id      bigint NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    id                 text NOT NULL,
    user_id            text NOT NULL DEFAULT '',
    message_id         text,
    name               text,
    content_type       text,
    size               bigint,
    is_inline          boolean,
    content_id         text,
    last_modified_at   timestamptz,
    kind               text,
    item_type          text,
    raw                jsonb NOT NULL,
    deleted_at         timestamptz,
    synced_at          timestamptz NOT NULL DEFAULT now(),
    seen_at            timestamptz,
    content_oid        oid,
    content_length     bigint,
    content_sha256     text,
    content_stored_at  timestamptz,
    content_skipped    text,
    PRIMARY KEY (connection_id, id)
);
CREATE INDEX mail_attachments_message_idx ON mail_attachments (connection_id, message_id);
CREATE INDEX mail_attachments_content_idx ON mail_attachments (connection_id, user_id)
    WHERE deleted_at IS NULL AND content_sha256 IS NULL AND content_skipped IS NULL;

COMMENT ON TABLE mail_attachments IS 'Attachments of Outlook messages (files, attached messages and events, links), from each message''s attachments list; read for messages with hasAttachments and for HTML messages naming an inline (cid:) image.';
COMMENT ON COLUMN mail_attachments.connection_id IS 'The connection this row was synced through.';
COMMENT ON COLUMN mail_attachments.id IS 'Graph id of the attachment (the immutable message id it belongs to, followed by its own part).';
COMMENT ON COLUMN mail_attachments.user_id IS 'Entra object id of the mailbox the message is in (the connection''s user, or a shared mailbox).';
COMMENT ON COLUMN mail_attachments.message_id IS 'Immutable Graph id of the message (mail_messages.id).';
COMMENT ON COLUMN mail_attachments.name IS 'File name, or an attached item''s subject.';
COMMENT ON COLUMN mail_attachments.content_type IS 'MIME type Outlook gives the file; NULL for attached items.';
COMMENT ON COLUMN mail_attachments.size IS 'Size Outlook stores the attachment with, in bytes: a few percent more than the content (see content_length).';
COMMENT ON COLUMN mail_attachments.is_inline IS 'Shown in the body (an image named by cid: in HTML) rather than listed as an attachment.';
COMMENT ON COLUMN mail_attachments.content_id IS 'contentId of a file attachment, named by cid: in an HTML body.';
COMMENT ON COLUMN mail_attachments.last_modified_at IS 'lastModifiedDateTime.';
COMMENT ON COLUMN mail_attachments.kind IS 'file (fileAttachment), item (itemAttachment: an attached message or event) or reference (referenceAttachment: a link to a file).';
COMMENT ON COLUMN mail_attachments.item_type IS 'For an item attachment, the attached item''s type: message or event.';
COMMENT ON COLUMN mail_attachments.raw IS 'The attachment as Graph listed it, without contentBytes; an item attachment''s message or event in raw->''item''.';
COMMENT ON COLUMN mail_attachments.deleted_at IS 'When graphsync learnt the attachment, or its message, was deleted; NULL while it exists.';
COMMENT ON COLUMN mail_attachments.synced_at IS 'When the row last changed in this table.';
COMMENT ON COLUMN mail_attachments.seen_at IS 'When the message''s attachments were last listed (used to retire attachments no longer listed).';
COMMENT ON COLUMN mail_attachments.content_oid IS 'Large object holding the content ($value: a file''s bytes, an item''s MIME), when content is kept (--attachment-content); read it with lo_get(content_oid) or in parts with lo_get(content_oid, offset, length).';
COMMENT ON COLUMN mail_attachments.content_length IS 'Length of the stored content in bytes.';
COMMENT ON COLUMN mail_attachments.content_sha256 IS 'Hex SHA-256 of the stored content, computed while it streamed in.';
COMMENT ON COLUMN mail_attachments.content_stored_at IS 'When the content was stored.';
COMMENT ON COLUMN mail_attachments.content_skipped IS 'Why the content is not kept although content is on: over the size cap, or a reference attachment (no content); NULL otherwise.';

-- A large object is not dropped with the row naming it.
CREATE FUNCTION mail_attachments_unlink() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.content_oid IS NOT NULL THEN PERFORM lo_unlink(OLD.content_oid); END IF;
        RETURN OLD;
    END IF;
    IF OLD.content_oid IS NOT NULL AND OLD.content_oid IS DISTINCT FROM NEW.content_oid THEN
        PERFORM lo_unlink(OLD.content_oid);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER mail_attachments_unlink AFTER DELETE OR UPDATE OF content_oid ON mail_attachments
    FOR EACH ROW EXECUTE FUNCTION mail_attachments_unlink();

SELECT changes_track('mail_attachments', 'mail', '{id}', 'user_id');

-- Items whose details (a message's attachments) must be read again.
CREATE TABLE detail_fetches (
    connection_id  bigint NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    table_name     text NOT NULL,
    item_id        text NOT NULL,
    user_id        text NOT NULL DEFAULT '',
    want_version   text,
    done_version   text,
    queued_at      timestamptz NOT NULL DEFAULT now(),
    done_at        timestamptz,
    PRIMARY KEY (connection_id, table_name, item_id)
);
CREATE INDEX detail_fetches_pending_idx ON detail_fetches (connection_id, user_id, table_name)
    WHERE want_version IS DISTINCT FROM done_version;

COMMENT ON TABLE detail_fetches IS 'Items whose details are read with requests of their own (a message''s attachments): pending while want_version differs from done_version.';
COMMENT ON COLUMN detail_fetches.connection_id IS 'The connection the item was synced through.';
COMMENT ON COLUMN detail_fetches.table_name IS 'The details'' table (mail_attachments).';
COMMENT ON COLUMN detail_fetches.item_id IS 'Graph id of the item (a message).';
COMMENT ON COLUMN detail_fetches.user_id IS 'The mailbox the item is in.';
COMMENT ON COLUMN detail_fetches.want_version IS 'The item''s version (changeKey) as last synced.';
COMMENT ON COLUMN detail_fetches.done_version IS 'The item''s version when its details were last read; NULL before the first read.';
COMMENT ON COLUMN detail_fetches.queued_at IS 'When the item was last queued.';
COMMENT ON COLUMN detail_fetches.done_at IS 'When its details were last read.';

-- A connection may keep attachment content or not, whatever the worker's
-- default (--attachment-content).
ALTER TABLE connections ADD COLUMN attachment_content boolean;
COMMENT ON COLUMN connections.attachment_content IS 'Whether attachment content is kept for this connection (graphsync connections attachments); NULL follows the worker''s --attachment-content.';
