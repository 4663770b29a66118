-- SharePoint sites an operator selects and their document libraries. Both
-- are lists read whole each pass; a library's files and folders come
-- through its drive delta into drive_items, beside the OneDrives, so that
-- one normaliser, one path maintenance and one permissions table serve
-- both.

CREATE TABLE sites (
    connection_id  bigint NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    id             text NOT NULL,
    user_id        text NOT NULL DEFAULT '',
    name           text,
    display_name   text,
    description    text,
    web_url        text,
    hostname       text,
    is_root        boolean,
    created_at     timestamptz,
    modified_at    timestamptz,
    raw            jsonb NOT NULL,
    deleted_at     timestamptz,
    synced_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, id)
);
CREATE INDEX sites_user_idx ON sites (connection_id, user_id) WHERE deleted_at IS NULL;

CREATE TABLE site_drives (
    connection_id  bigint NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    id             text NOT NULL,
    user_id        text NOT NULL DEFAULT '',
    site_id        text,
    name           text,
    description    text,
    drive_type     text,
    web_url        text,
    owner          text,
    created_at     timestamptz,
    modified_at    timestamptz,
    raw            jsonb NOT NULL,
    deleted_at     timestamptz,
    synced_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, id)
);
CREATE INDEX site_drives_site_idx ON site_drives (connection_id, site_id) WHERE deleted_at IS NULL;
CREATE INDEX site_drives_user_idx ON site_drives (connection_id, user_id) WHERE deleted_at IS NULL;
CREATE INDEX drive_items_drive_idx ON drive_items (connection_id, drive_id) WHERE deleted_at IS NULL;

COMMENT ON TABLE sites IS 'SharePoint sites selected with --sites (GRAPHSYNC_SITES), as GET /sites/{hostname}:/{path} or /sites/{id} serves them. A selected site not found or closed to the connection has no row; its state is the sync_state stream "site <url or id>" of resource sites.';
COMMENT ON COLUMN sites.connection_id IS 'The connection this row was synced through.';
COMMENT ON COLUMN sites.id IS 'Graph id of the site: hostname,{site collection id},{site id}.';
COMMENT ON COLUMN sites.user_id IS 'Empty: sites are read once for the tenant by an application connection.';
COMMENT ON COLUMN sites.name IS 'The site''s URL name (the last segment of its path; empty for the root site).';
COMMENT ON COLUMN sites.display_name IS 'The site''s title.';
COMMENT ON COLUMN sites.description IS 'The site''s description.';
COMMENT ON COLUMN sites.web_url IS 'The site''s URL, as --sites takes it.';
COMMENT ON COLUMN sites.hostname IS 'The SharePoint host of the site''s collection (siteCollection.hostname).';
COMMENT ON COLUMN sites.is_root IS 'True for the root site of its site collection.';
COMMENT ON COLUMN sites.created_at IS 'createdDateTime.';
COMMENT ON COLUMN sites.modified_at IS 'lastModifiedDateTime.';
COMMENT ON COLUMN sites.raw IS 'The site as Graph sent it.';
COMMENT ON COLUMN sites.deleted_at IS 'When graphsync learnt the site went (no longer selected, not found, or closed to the connection); NULL while it is synced.';
COMMENT ON COLUMN sites.synced_at IS 'When the row last changed in this table.';

COMMENT ON TABLE site_drives IS 'Document libraries of the selected sites (GET /sites/{id}/drives); each library''s items are rows of drive_items with its drive_id.';
COMMENT ON COLUMN site_drives.connection_id IS 'The connection this row was synced through.';
COMMENT ON COLUMN site_drives.id IS 'Graph id of the library''s drive (drive_items.drive_id of its items).';
COMMENT ON COLUMN site_drives.user_id IS 'As sites.user_id.';
COMMENT ON COLUMN site_drives.site_id IS 'Graph id of the site holding the library (sites.id).';
COMMENT ON COLUMN site_drives.name IS 'The library''s name ("Documents" for the default one).';
COMMENT ON COLUMN site_drives.description IS 'The library''s description.';
COMMENT ON COLUMN site_drives.drive_type IS 'driveType: documentLibrary for a library.';
COMMENT ON COLUMN site_drives.web_url IS 'URL of the library in the browser.';
COMMENT ON COLUMN site_drives.owner IS 'Who owns the library: the site''s group, by display name, or a user by e-mail.';
COMMENT ON COLUMN site_drives.created_at IS 'createdDateTime.';
COMMENT ON COLUMN site_drives.modified_at IS 'lastModifiedDateTime.';
COMMENT ON COLUMN site_drives.raw IS 'The drive as Graph sent it.';
COMMENT ON COLUMN site_drives.deleted_at IS 'When graphsync learnt the library went, or its site did; NULL while it is synced. Its items in drive_items are retired with it.';
COMMENT ON COLUMN site_drives.synced_at IS 'When the row last changed in this table.';

COMMENT ON TABLE drive_items IS 'Files and folders of OneDrives (drive/root/delta) and of the selected sites'' document libraries (drives/{id}/root/delta; site_drives names them), with full paths graphsync maintains itself.';
COMMENT ON COLUMN drive_items.user_id IS 'Entra object id of the OneDrive''s owner; empty for a library''s item (read for the tenant).';
COMMENT ON COLUMN drive_items.drive_id IS 'Graph id of the drive holding the item (parentReference.driveId): the user''s OneDrive, or a library (site_drives.id).';

SELECT changes_track('sites', 'sites', '{id}', 'user_id');
SELECT changes_track('site_drives', 'sites', '{id}', 'user_id');
