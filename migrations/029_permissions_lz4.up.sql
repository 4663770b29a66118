-- Every synced table keeps its raw JSON with lz4 TOAST compression
-- (migration 023); drive_item_permissions was created without it.
ALTER TABLE drive_item_permissions ALTER COLUMN raw SET COMPRESSION lz4;
