-- OneDrive files and folders, and the SharePoint access token kept next to
-- the Graph one for connections granted Sites.Read.All.

CREATE TABLE drive_items (
    connection_id  bigint NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    id             text NOT NULL,
    user_id        text NOT NULL DEFAULT '',
    drive_id       text,
    name           text,
    parent_id      text,
    path           text,
    is_root        boolean NOT NULL DEFAULT false,
    is_folder      boolean NOT NULL DEFAULT false,
    size           bigint,
    mime_type      text,
    quick_xor_hash text,
    sha1_hash      text,
    sha256_hash    text,
    created_by     text,
    modified_by    text,
    created_at     timestamptz,
    modified_at    timestamptz,
    web_url        text,
    raw            jsonb NOT NULL,
    deleted_at     timestamptz,
    deleted_with   text,
    synced_at      timestamptz NOT NULL DEFAULT now(),
    seen_at        timestamptz,
    PRIMARY KEY (connection_id, id)
);
CREATE INDEX drive_items_parent_idx ON drive_items (connection_id, parent_id);
CREATE INDEX drive_items_user_idx ON drive_items (connection_id, user_id, drive_id);
CREATE INDEX drive_items_path_idx ON drive_items (connection_id, path text_pattern_ops) WHERE deleted_at IS NULL;

COMMENT ON TABLE drive_items IS 'OneDrive files and folders, from drive/root/delta, with full paths graphsync maintains itself.';
COMMENT ON COLUMN drive_items.connection_id IS 'The connection this row was synced through.';
COMMENT ON COLUMN drive_items.id IS 'Graph id of the item (stable across renames and moves within the drive).';
COMMENT ON COLUMN drive_items.user_id IS 'Entra object id of the drive owner.';
COMMENT ON COLUMN drive_items.drive_id IS 'Graph id of the drive holding the item (parentReference.driveId).';
COMMENT ON COLUMN drive_items.name IS 'File or folder name.';
COMMENT ON COLUMN drive_items.parent_id IS 'Graph id of the parent folder; NULL for the root.';
COMMENT ON COLUMN drive_items.path IS 'Full path from the drive root: "/" for the root, "/Documents/a.txt" below it. Maintained by graphsync through renames and moves of any ancestor (delta sends no paths); NULL while an ancestor is not yet known.';
COMMENT ON COLUMN drive_items.is_root IS 'True for the drive''s root folder.';
COMMENT ON COLUMN drive_items.is_folder IS 'True for folders (the folder facet), false for files.';
COMMENT ON COLUMN drive_items.size IS 'Size in bytes; for folders, of everything below them.';
COMMENT ON COLUMN drive_items.mime_type IS 'MIME type of a file, as OneDrive detected it.';
COMMENT ON COLUMN drive_items.quick_xor_hash IS 'QuickXorHash of the content (base64), OneDrive for Business and SharePoint.';
COMMENT ON COLUMN drive_items.sha1_hash IS 'SHA-1 of the content (hex), where the drive type provides it.';
COMMENT ON COLUMN drive_items.sha256_hash IS 'SHA-256 of the content (hex), where the drive type provides it.';
COMMENT ON COLUMN drive_items.created_by IS 'Who created the item: the user''s e-mail, else display name, else id (then application, then device).';
COMMENT ON COLUMN drive_items.modified_by IS 'Who last modified the item, as created_by.';
COMMENT ON COLUMN drive_items.created_at IS 'createdDateTime.';
COMMENT ON COLUMN drive_items.modified_at IS 'lastModifiedDateTime.';
COMMENT ON COLUMN drive_items.web_url IS 'URL that opens the item in the browser.';
COMMENT ON COLUMN drive_items.raw IS 'The item as Graph sent it.';
COMMENT ON COLUMN drive_items.deleted_at IS 'When graphsync learnt the item was deleted (or a folder above it was); NULL while it exists.';
COMMENT ON COLUMN drive_items.deleted_with IS 'Id of the deleted folder whose deletion retired this item; NULL when the item itself was reported deleted. Such items come back if Graph later reports them, or a folder above them, alive.';
COMMENT ON COLUMN drive_items.synced_at IS 'When the row last changed in this table.';
COMMENT ON COLUMN drive_items.seen_at IS 'When a full enumeration last saw the row (used to retire rows a resync no longer sees).';

ALTER TABLE connections
    ADD COLUMN sharepoint_resource         text,
    ADD COLUMN sharepoint_token_key_id     text,
    ADD COLUMN sharepoint_token_enc        bytea,
    ADD COLUMN sharepoint_token_expires_at timestamptz;

COMMENT ON COLUMN connections.sharepoint_resource IS 'The tenant''s SharePoint resource (https://contoso.sharepoint.com) that sharepoint_token_enc is for, found from the user''s drive.';
COMMENT ON COLUMN connections.sharepoint_token_key_id IS 'Id of the encryption key that sealed sharepoint_token_enc.';
COMMENT ON COLUMN connections.sharepoint_token_enc IS 'SharePoint access token redeemed with the refresh token, AES-256-GCM ciphertext; never plaintext. Only for delegated connections granted Sites.Read.All (or another Sites permission).';
COMMENT ON COLUMN connections.sharepoint_token_expires_at IS 'When the stored SharePoint access token expires.';
