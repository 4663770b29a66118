-- drive_item_permissions' rows are now retired with their item (a
-- tombstone, a full round's or a reconciliation's retirement, its library's
-- removal) and when delta reports the item inheriting again; the comments
-- say so.
COMMENT ON TABLE drive_item_permissions IS 'Permissions of the drive items (OneDrive and library files and folders) whose permissions are their own: sharing links and grants, from GET .../items/{id}/permissions, read when drive delta (Prefer: hierarchicalsharing) reports an item with the shared facet. Items that inherit have no live rows here; query drive_item_access for every item''s effective permissions.';
COMMENT ON COLUMN drive_item_permissions.deleted_at IS 'When graphsync learnt the permission no longer applies: removed from the item; the item deleted (its rows go with it); or the item inheriting again (delta reported it without the shared facet: its rows are retired, not read again, as its permissions list would hold what it inherits). NULL while it applies.';
COMMENT ON VIEW drive_item_access IS 'Who can reach each live drive item: one row per permission that applies to it, its own or inherited from its nearest live ancestor holding permissions of its own (found by path). Deleted items, and the rows drive_item_permissions retired, are left out.';
