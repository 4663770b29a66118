-- Who can reach each drive item (OneDrives and the selected sites'
-- libraries): the permissions of the items whose permissions are their own,
-- read from items/{id}/permissions when drive delta (with Prefer:
-- hierarchicalsharing) reports such an item. An item that inherits its
-- permissions has no rows: drive_item_access resolves every live item to
-- the permissions of its nearest ancestor holding its own, so that "who can
-- see this file" is one query.

CREATE TABLE drive_item_permissions (
    connection_id    bigint NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    item_id          text NOT NULL,
    id               text NOT NULL,
    user_id          text NOT NULL DEFAULT '',
    kind             text,
    link_type        text,
    link_scope       text,
    roles            text[],
    grantees         jsonb,
    reaches_outside  boolean,
    raw              jsonb NOT NULL,
    deleted_at       timestamptz,
    synced_at        timestamptz NOT NULL DEFAULT now(),
    seen_at          timestamptz,
    PRIMARY KEY (connection_id, item_id, id)
);
CREATE INDEX drive_item_permissions_outside_idx ON drive_item_permissions (connection_id) WHERE reaches_outside AND deleted_at IS NULL;

COMMENT ON TABLE drive_item_permissions IS 'Permissions of the drive items (OneDrive and library files and folders) whose permissions are their own: sharing links and grants, from GET .../items/{id}/permissions. Items that inherit have no rows here; query drive_item_access for every item''s effective permissions.';
COMMENT ON COLUMN drive_item_permissions.connection_id IS 'The connection this row was synced through.';
COMMENT ON COLUMN drive_item_permissions.item_id IS 'Graph id of the item holding the permission (drive_items.id).';
COMMENT ON COLUMN drive_item_permissions.id IS 'Graph id of the permission; unique per item only (an item that stops inheriting keeps the ids of the permissions it copied).';
COMMENT ON COLUMN drive_item_permissions.user_id IS 'As drive_items.user_id of the item.';
COMMENT ON COLUMN drive_item_permissions.kind IS 'link (a sharing link) or grant (access given to people, groups or site groups).';
COMMENT ON COLUMN drive_item_permissions.link_type IS 'A link''s type: view, edit, embed...; NULL for a grant.';
COMMENT ON COLUMN drive_item_permissions.link_scope IS 'Who a link works for: anonymous (anyone with the link), organization (anyone in the tenant) or users (the grantees); NULL for a grant.';
COMMENT ON COLUMN drive_item_permissions.roles IS 'What the permission allows: read, write, owner...';
COMMENT ON COLUMN drive_item_permissions.grantees IS 'Who the permission reaches, a JSON array of {type, id, name, email}: type user, group (Microsoft Entra), siteGroup (SharePoint), application, device, or external (a user outside the tenant: an address without a directory id). Empty for a link to anyone or to the organization.';
COMMENT ON COLUMN drive_item_permissions.reaches_outside IS 'True when the permission reaches beyond the tenant: a link to anyone, or a grantee outside the tenant.';
COMMENT ON COLUMN drive_item_permissions.raw IS 'The permission as Graph sent it.';
COMMENT ON COLUMN drive_item_permissions.deleted_at IS 'When graphsync learnt the permission was removed (or the item stopped holding permissions of its own); NULL while it applies.';
COMMENT ON COLUMN drive_item_permissions.synced_at IS 'When the row last changed in this table.';
COMMENT ON COLUMN drive_item_permissions.seen_at IS 'When the item''s permissions were last read and listed this one.';

SELECT changes_track('drive_item_permissions', 'drive', '{item_id,id}', 'user_id');

-- Every live drive item with the permissions that apply to it: its own, or
-- those of its nearest ancestor (by path) holding permissions of its own.
CREATE VIEW drive_item_access AS
SELECT i.connection_id, i.drive_id, i.id AS item_id, i.path, i.is_folder,
       h.id AS permissions_from, h.id <> i.id AS inherited,
       p.id AS permission_id, p.kind, p.link_type, p.link_scope, p.roles, p.grantees, p.reaches_outside
FROM drive_items i
CROSS JOIN LATERAL (
    SELECT a.id FROM drive_items a
    WHERE a.connection_id = i.connection_id AND a.drive_id = i.drive_id AND a.deleted_at IS NULL
      AND (a.id = i.id OR a.is_root OR starts_with(i.path, a.path || '/'))
      AND EXISTS (SELECT 1 FROM drive_item_permissions o
                  WHERE o.connection_id = a.connection_id AND o.item_id = a.id AND o.deleted_at IS NULL)
    ORDER BY a.id = i.id DESC, length(a.path) DESC
    LIMIT 1
) h
JOIN drive_item_permissions p ON p.connection_id = i.connection_id AND p.item_id = h.id AND p.deleted_at IS NULL
WHERE i.deleted_at IS NULL;

COMMENT ON VIEW drive_item_access IS 'Who can reach each live drive item: one row per permission that applies to it, its own or inherited from its nearest ancestor holding permissions of its own (found by path).';
COMMENT ON COLUMN drive_item_access.connection_id IS 'The connection the item was synced through.';
COMMENT ON COLUMN drive_item_access.drive_id IS 'The item''s drive (a OneDrive, or site_drives.id).';
COMMENT ON COLUMN drive_item_access.item_id IS 'Graph id of the item (drive_items.id).';
COMMENT ON COLUMN drive_item_access.path IS 'The item''s path in its drive.';
COMMENT ON COLUMN drive_item_access.is_folder IS 'True for folders.';
COMMENT ON COLUMN drive_item_access.permissions_from IS 'The item holding the permissions that apply: the item itself, or the ancestor it inherits from.';
COMMENT ON COLUMN drive_item_access.inherited IS 'True when the permission is inherited from permissions_from.';
COMMENT ON COLUMN drive_item_access.permission_id IS 'drive_item_permissions.id.';
COMMENT ON COLUMN drive_item_access.kind IS 'drive_item_permissions.kind: link or grant.';
COMMENT ON COLUMN drive_item_access.link_type IS 'drive_item_permissions.link_type.';
COMMENT ON COLUMN drive_item_access.link_scope IS 'drive_item_permissions.link_scope.';
COMMENT ON COLUMN drive_item_access.roles IS 'drive_item_permissions.roles.';
COMMENT ON COLUMN drive_item_access.grantees IS 'drive_item_permissions.grantees.';
COMMENT ON COLUMN drive_item_access.reaches_outside IS 'drive_item_permissions.reaches_outside.';
