-- Groups and their memberships, per application connection (tenant), from
-- groups/delta with members: a group may come several times in one round,
-- each time with part of its membership changes in members@delta; members
-- are added and removed (@removed) one by one, never listed whole but in
-- the first (full) round.

CREATE TABLE groups (
    connection_id     bigint NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    id                text NOT NULL,
    display_name      text,
    mail              text,
    mail_nickname     text,
    mail_enabled      boolean,
    security_enabled  boolean,
    group_types       text[],
    visibility        text,
    description       text,
    created_at        timestamptz,
    raw               jsonb NOT NULL,
    deleted_at        timestamptz,
    synced_at         timestamptz NOT NULL DEFAULT now(),
    seen_at           timestamptz,
    PRIMARY KEY (connection_id, id)
);
CREATE INDEX groups_live_idx ON groups (connection_id) WHERE deleted_at IS NULL;

CREATE TABLE group_members (
    connection_id  bigint NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    group_id       text NOT NULL,
    member_id      text NOT NULL,
    member_type    text,
    raw            jsonb NOT NULL,
    deleted_at     timestamptz,
    synced_at      timestamptz NOT NULL DEFAULT now(),
    seen_at        timestamptz,
    PRIMARY KEY (connection_id, group_id, member_id)
);
CREATE INDEX group_members_member_idx ON group_members (connection_id, member_id) WHERE deleted_at IS NULL;

COMMENT ON TABLE groups IS 'Groups of a tenant (Microsoft 365, security and distribution groups) synced by an application connection from groups/delta; their memberships are in group_members.';
COMMENT ON COLUMN groups.connection_id IS 'The application connection (tenant) this group was synced through.';
COMMENT ON COLUMN groups.id IS 'Entra object id of the group (a team''s group has the team''s id: teams.id).';
COMMENT ON COLUMN groups.display_name IS 'displayName.';
COMMENT ON COLUMN groups.mail IS 'SMTP address of a mail-enabled group, lower-cased; NULL for a group without one.';
COMMENT ON COLUMN groups.mail_nickname IS 'mailNickname: the alias, unique in the tenant.';
COMMENT ON COLUMN groups.mail_enabled IS 'mailEnabled: whether the group has a mailbox or distribution address.';
COMMENT ON COLUMN groups.security_enabled IS 'securityEnabled: whether the group can be granted access (a security group, or a Microsoft 365 group so enabled).';
COMMENT ON COLUMN groups.group_types IS 'groupTypes: Unified for a Microsoft 365 group, DynamicMembership for a dynamic one; empty for a security or distribution group.';
COMMENT ON COLUMN groups.visibility IS 'Public, Private or HiddenMembership for a Microsoft 365 group; NULL otherwise.';
COMMENT ON COLUMN groups.description IS 'description; NULL when none.';
COMMENT ON COLUMN groups.created_at IS 'createdDateTime.';
COMMENT ON COLUMN groups.raw IS 'The group as Graph sent it, its changes merged, without members@delta (the memberships are rows of group_members).';
COMMENT ON COLUMN groups.deleted_at IS 'When graphsync learnt the group was deleted (a deleted Microsoft 365 group can be restored for 30 days and then comes back); NULL while it exists. Its memberships are retired with it.';
COMMENT ON COLUMN groups.synced_at IS 'When the row last changed in this table.';
COMMENT ON COLUMN groups.seen_at IS 'When a full round (the first, or one after the delta token expired) last saw the group; such a round retires the groups it did not see.';

COMMENT ON TABLE group_members IS 'Direct members of the groups in groups, from members@delta of groups/delta: one row per group and member, retired when the member is removed or the group deleted.';
COMMENT ON COLUMN group_members.connection_id IS 'The application connection (tenant) this membership was synced through.';
COMMENT ON COLUMN group_members.group_id IS 'Entra object id of the group (groups.id).';
COMMENT ON COLUMN group_members.member_id IS 'Entra object id of the member: a user (directory_users.id), a group (groups.id, a nested group), a device, a service principal or an organizational contact, as member_type says.';
COMMENT ON COLUMN group_members.member_type IS 'The member''s kind, as @odata.type names it: #microsoft.graph.user, #microsoft.graph.group, #microsoft.graph.device, #microsoft.graph.servicePrincipal or #microsoft.graph.orgContact.';
COMMENT ON COLUMN group_members.raw IS 'The member as members@delta listed it (its @odata.type and id).';
COMMENT ON COLUMN group_members.deleted_at IS 'When graphsync learnt the member left the group (members@delta @removed), the group was deleted, or a full round no longer listed the membership; NULL while a member.';
COMMENT ON COLUMN group_members.synced_at IS 'When the row last changed in this table.';
COMMENT ON COLUMN group_members.seen_at IS 'When a full round last listed the membership; such a round retires the memberships it did not list.';

-- Their raw JSON is compressed with lz4, as every synced table's
-- (023_raw_lz4), where the server has it.
DO $$
BEGIN
    ALTER TABLE groups ALTER COLUMN raw SET COMPRESSION lz4;
    ALTER TABLE group_members ALTER COLUMN raw SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'this server has no lz4: raw columns keep pglz';
END $$;

-- changes_track as 014_changes defined it, but for a NULL user_col: the
-- entries of a tenant's rows (groups) name no mailbox.
CREATE OR REPLACE FUNCTION changes_track(tbl text, res text, keys text[], user_col text, parent text DEFAULT NULL, parent_col text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    cols      text[];
    id_col    text := keys[cardinality(keys)];
    deletable boolean;
    insert_op text := quote_literal('created');
    update_op text := quote_literal('updated');
    usr       text;
    key_n     text;
    join_on   text := 'o.connection_id = n.connection_id';
    head      text;
    notify    text;
    k         text;
BEGIN
    SELECT array_agg(attname::text ORDER BY attnum) INTO cols FROM pg_attribute
    WHERE attrelid = tbl::regclass AND attnum > 0 AND NOT attisdropped AND attname NOT IN ('raw', 'seen_at');
    deletable := 'deleted_at' = ANY (cols);
    IF deletable THEN
        insert_op := $q$CASE WHEN n.deleted_at IS NULL THEN 'created' ELSE 'deleted' END$q$;
        update_op := $q$CASE WHEN n.deleted_at IS NOT NULL AND o.deleted_at IS NULL THEN 'deleted'
            WHEN n.deleted_at IS NULL AND o.deleted_at IS NOT NULL THEN 'created' ELSE 'updated' END$q$;
    END IF;
    IF user_col IS NULL THEN
        usr := 'NULL::text';
    ELSIF parent IS NULL THEN
        usr := format('n.%I::text', user_col);
    ELSE
        usr := format('(SELECT p.%I FROM %I p WHERE p.connection_id = n.connection_id AND p.id = n.%I)', user_col, parent, parent_col);
    END IF;
    key_n := 'jsonb_build_object(' || (SELECT string_agg(format('%L, n.%I', c, c), ', ') FROM unnest(keys) c) || ')';
    FOREACH k IN ARRAY keys LOOP
        join_on := join_on || format(' AND o.%I = n.%I', k, k);
    END LOOP;
    head := 'INSERT INTO changes (table_name, resource, connection_id, user_id, item_id, key, op, data) SELECT '
        || format('%L, %L, n.connection_id, %s, n.%I::text, %s, ', tbl, res, usr, id_col, key_n);
    notify := format('SELECT changes_notify(%L, %L, array_agg(DISTINCT connection_id)) INTO done FROM logged;', tbl, res);

    IF parent IS NULL THEN
        EXECUTE format($f$CREATE OR REPLACE FUNCTION %I() RETURNS trigger LANGUAGE plpgsql AS $b$
DECLARE done bigint;
BEGIN
    WITH logged AS (%s %s, %s FROM new_rows n RETURNING connection_id)
    %s
    RETURN NULL;
END $b$
$f$, 'changes_' || tbl || '_insert', head, insert_op, changes_image('n', cols), notify);
    ELSE
        -- A child row deleted earlier in this transaction and inserted again
        -- is one update, or nothing when it did not change.
        EXECUTE format($f$CREATE OR REPLACE FUNCTION %I() RETURNS trigger LANGUAGE plpgsql AS $b$
DECLARE done bigint;
BEGIN
    WITH gone AS (
        DELETE FROM changes c USING new_rows n
        WHERE c.xid = pg_current_xact_id() AND c.table_name = %L AND c.op = 'deleted'
            AND c.connection_id = n.connection_id AND c.key = %s
        RETURNING c.connection_id, c.key, c.data
    ), logged AS (
        %s CASE WHEN g.key IS NULL THEN 'created' ELSE 'updated' END, %s
        FROM new_rows n LEFT JOIN gone g ON g.connection_id = n.connection_id AND g.key = %s
        WHERE g.data IS DISTINCT FROM %s
        RETURNING connection_id)
    %s
    RETURN NULL;
END $b$
$f$, 'changes_' || tbl || '_insert', tbl, key_n, head, changes_image('n', cols), key_n, changes_image('n', cols), notify);
        -- Rows removed with their connection are not logged one by one:
        -- the connection's deleted event says it all.
        EXECUTE format($f$CREATE OR REPLACE FUNCTION %I() RETURNS trigger LANGUAGE plpgsql AS $b$
DECLARE done bigint;
BEGIN
    WITH logged AS (%s 'deleted', %s FROM old_rows n
        WHERE EXISTS (SELECT 1 FROM connections x WHERE x.id = n.connection_id) RETURNING connection_id)
    %s
    RETURN NULL;
END $b$
$f$, 'changes_' || tbl || '_delete', head, changes_image('n', cols), notify);
        EXECUTE format('CREATE OR REPLACE TRIGGER changes_delete AFTER DELETE ON %I REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION %I()',
            tbl, 'changes_' || tbl || '_delete');
    END IF;

    -- An update that only marks a row seen by a full round (seen_at), or
    -- rewrites it unchanged, logs nothing.
    EXECUTE format($f$CREATE OR REPLACE FUNCTION %I() RETURNS trigger LANGUAGE plpgsql AS $b$
DECLARE done bigint;
BEGIN
    WITH logged AS (%s %s, %s FROM new_rows n JOIN old_rows o ON %s
        WHERE (%s) IS DISTINCT FROM (%s) RETURNING connection_id)
    %s
    RETURN NULL;
END $b$
$f$, 'changes_' || tbl || '_update', head, update_op, changes_image('n', cols), join_on,
        (SELECT string_agg(format('n.%I', c), ', ') FROM unnest(cols) c),
        (SELECT string_agg(format('o.%I', c), ', ') FROM unnest(cols) c), notify);

    EXECUTE format('CREATE OR REPLACE TRIGGER changes_insert AFTER INSERT ON %I REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION %I()',
        tbl, 'changes_' || tbl || '_insert');
    EXECUTE format('CREATE OR REPLACE TRIGGER changes_update AFTER UPDATE ON %I REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION %I()',
        tbl, 'changes_' || tbl || '_update');
    INSERT INTO change_tables (table_name, resource, key_columns, columns) VALUES (tbl, res, keys, cols)
    ON CONFLICT (table_name) DO UPDATE SET resource = EXCLUDED.resource, key_columns = EXCLUDED.key_columns, columns = EXCLUDED.columns;
END
$$;

SELECT changes_track('groups', 'groups', '{id}', NULL);
SELECT changes_track('group_members', 'groups', '{group_id,member_id}', NULL);
