-- The change feed: every insert, update and soft delete of a synced row, and
-- every change of a connection's status, appends an entry to `changes` in
-- the transaction that wrote the row, through statement-level triggers
-- generated per table by changes_track. A reader follows the feed with a
-- cursor made of PostgreSQL snapshots (pg_current_snapshot): the entries of
-- a transaction become readable when it commits, whatever its entries'
-- sequence numbers, so a reader never skips one (README.md, "For apps";
-- docs/architecture.md, "The change feed").

CREATE TABLE changes (
    -- GENERATED ... IDENTITY has a cache of 1, which keeps seq increasing
    -- in the order entries are written across sessions: the order of two
    -- writes of the same row (the second waits for the first to commit).
    seq           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    xid           xid8 NOT NULL DEFAULT pg_current_xact_id(),
    changed_at    timestamptz NOT NULL DEFAULT now(),
    table_name    text NOT NULL,
    resource      text,
    connection_id bigint NOT NULL,
    user_id       text,
    item_id       text,
    key           jsonb NOT NULL DEFAULT '{}',
    op            text NOT NULL CHECK (op IN ('created', 'updated', 'deleted', 'needs_reauth', 'needs_admin', 'disabled', 'enabled')),
    data          jsonb NOT NULL
);
CREATE INDEX changes_xid_idx ON changes (xid);

COMMENT ON TABLE changes IS 'The change feed: one entry per insert, update or soft delete of a synced row, and per change of a connection''s status, written in the same transaction. Read it with a snapshot cursor (README.md, "For apps"); entries older than GRAPHSYNC_CHANGES_RETENTION are pruned.';
COMMENT ON COLUMN changes.seq IS 'Entry id, increasing in the order entries were written: two changes of the same row are in commit order. Not a cursor on its own: a lower seq can commit after a higher one is read.';
COMMENT ON COLUMN changes.xid IS 'The writing transaction (pg_current_xact_id()): a reader takes the entries of transactions its last snapshot did not see and its new one does.';
COMMENT ON COLUMN changes.changed_at IS 'When the writing transaction began: the row''s synced_at.';
COMMENT ON COLUMN changes.table_name IS 'The table whose row changed, or connections for a connection''s event.';
COMMENT ON COLUMN changes.resource IS 'The resource the table belongs to (mail, calendar, contacts, drive, chats, people, users); NULL for a connection''s event.';
COMMENT ON COLUMN changes.connection_id IS 'The connection the row was synced through (entries stay when the connection is deleted).';
COMMENT ON COLUMN changes.user_id IS 'The mailbox (Entra object id) the row was synced for; for attendees and chat members, their parent''s; NULL for a connection''s event.';
COMMENT ON COLUMN changes.item_id IS 'The row''s id: the last column of its key (the ordinal of an attendee), as text.';
COMMENT ON COLUMN changes.key IS 'Every key column after connection_id, by name: {"id": ...}, {"chat_id": ..., "id": ...}, {"user_id": ..., "id": ...}, {"event_id": ..., "ordinal": ...}.';
COMMENT ON COLUMN changes.op IS 'created (a new row, or a retired one live again), updated, deleted (deleted_at set; for attendees and chat members, the row removed). A connection''s event: created, needs_reauth (the user must sign in again), needs_admin (the tenant refuses the app: its administrator must act), disabled, enabled (active again), deleted (with every row synced through it).';
COMMENT ON COLUMN changes.data IS 'The row as written, every column but raw and seen_at (for a removed attendee or member, as it was); for a connection, its id, kind, tenant, user, status and last error, never its tokens.';

-- The feed's state: entries of transactions below horizon were pruned, so
-- a cursor that had not seen one of them can no longer be served.
CREATE TABLE change_feed (
    one     boolean PRIMARY KEY DEFAULT true CHECK (one),
    horizon xid8 NOT NULL
);
INSERT INTO change_feed (horizon) VALUES (pg_snapshot_xmin(pg_current_snapshot()));
COMMENT ON TABLE change_feed IS 'The change feed''s single row of state.';
COMMENT ON COLUMN change_feed.one IS 'Always true: the table holds one row.';
COMMENT ON COLUMN change_feed.horizon IS 'Every entry written by a transaction below this id was pruned: a cursor that did not see them all is refused, naming the oldest cursor available ("horizon:horizon:").';

-- Which tables feed the log, and what their entries hold; changes_track
-- keeps it, a test compares it with the tables graphsync writes.
CREATE TABLE change_tables (
    table_name  text PRIMARY KEY,
    resource    text NOT NULL,
    key_columns text[] NOT NULL,
    columns     text[] NOT NULL
);
COMMENT ON TABLE change_tables IS 'The synced tables whose changes the feed records, with their key and the columns of an entry''s data.';
COMMENT ON COLUMN change_tables.table_name IS 'A synced table whose changes the feed records.';
COMMENT ON COLUMN change_tables.resource IS 'The resource the table belongs to, as in changes.resource.';
COMMENT ON COLUMN change_tables.key_columns IS 'The key columns after connection_id, as in changes.key.';
COMMENT ON COLUMN change_tables.columns IS 'The columns of changes.data: every column of the table but raw and seen_at, as of the last changes_track.';

-- changes_notify wakes the apps LISTENing on graphsync_changes when the
-- transaction commits; PostgreSQL folds repeats within a transaction.
CREATE FUNCTION changes_notify(tbl text, res text, conns bigint[]) RETURNS bigint LANGUAGE sql AS $$
SELECT count(pg_notify('graphsync_changes', json_build_object('table', tbl, 'resource', res, 'connection_id', c)::text))
FROM unnest(conns) AS c
$$;

-- changes_image is the jsonb_build_object of cols over alias a, in chunks:
-- a function call takes at most 100 arguments.
CREATE FUNCTION changes_image(a text, cols text[]) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    parts text[] := '{}';
    args  text[] := '{}';
    c     text;
BEGIN
    FOREACH c IN ARRAY cols LOOP
        args := args || format('%L, %s.%I', c, a, c);
        IF cardinality(args) = 40 THEN
            parts := parts || ('jsonb_build_object(' || array_to_string(args, ', ') || ')');
            args := '{}';
        END IF;
    END LOOP;
    IF cardinality(args) > 0 OR cardinality(parts) = 0 THEN
        parts := parts || ('jsonb_build_object(' || array_to_string(args, ', ') || ')');
    END IF;
    RETURN array_to_string(parts, ' || ');
END
$$;

-- changes_track makes a synced table feed the log: it (re)creates the
-- table's trigger functions and statement-level triggers from its current
-- columns. Run it for every new synced table and again after adding a
-- column. keys are the key columns after connection_id (the last is the
-- item id); user_col names the mailbox column, of the parent table for a
-- child table (parent, joined on parent_col = parent.id), whose rows are
-- replaced wholesale: its delete and re-insert of an unchanged row cancel
-- out, a changed one is one update.
CREATE FUNCTION changes_track(tbl text, res text, keys text[], user_col text, parent text DEFAULT NULL, parent_col text DEFAULT NULL)
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
    IF parent IS NULL THEN
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

SELECT changes_track('mail_folders', 'mail', '{id}', 'user_id');
SELECT changes_track('mail_messages', 'mail', '{id}', 'user_id');
SELECT changes_track('calendar_events', 'calendar', '{id}', 'user_id');
SELECT changes_track('calendar_event_attendees', 'calendar', '{event_id,ordinal}', 'user_id', 'calendar_events', 'event_id');
SELECT changes_track('contact_folders', 'contacts', '{id}', 'user_id');
SELECT changes_track('contacts', 'contacts', '{id}', 'user_id');
SELECT changes_track('drive_items', 'drive', '{id}', 'user_id');
SELECT changes_track('chats', 'chats', '{id}', 'user_id');
SELECT changes_track('chat_members', 'chats', '{chat_id,id}', 'user_id', 'chats', 'chat_id');
SELECT changes_track('chat_messages', 'chats', '{chat_id,id}', 'user_id');
SELECT changes_track('people', 'people', '{user_id,id}', 'user_id');
SELECT changes_track('directory_users', 'users', '{id}', 'id');

-- A connection's events: created, its status changing (needs_reauth,
-- needs_admin, disabled, enabled again) and deleted. Its tokens never enter the log.
CREATE FUNCTION changes_connection_image(c connections) RETURNS jsonb LANGUAGE sql STABLE AS $$
SELECT jsonb_build_object('id', c.id, 'kind', c.kind, 'tenant_id', c.tenant_id, 'user_id', c.user_id,
    'user_principal_name', c.user_principal_name, 'display_name', c.display_name, 'resources', c.resources,
    'status', c.status, 'last_error_code', c.last_error_code, 'last_error', c.last_error, 'updated_at', c.updated_at)
$$;

CREATE FUNCTION changes_connections() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE done bigint;
BEGIN
    IF TG_OP = 'INSERT' THEN
        WITH logged AS (
            INSERT INTO changes (table_name, connection_id, user_id, item_id, op, data)
            SELECT 'connections', n.id, nullif(n.user_id, ''), n.id::text, 'created', changes_connection_image(n) FROM new_rows n
            RETURNING connection_id)
        SELECT changes_notify('connections', NULL, array_agg(connection_id)) INTO done FROM logged;
    ELSIF TG_OP = 'UPDATE' THEN
        WITH logged AS (
            INSERT INTO changes (table_name, connection_id, user_id, item_id, op, data)
            SELECT 'connections', n.id, nullif(n.user_id, ''), n.id::text,
                CASE n.status WHEN 'active' THEN 'enabled' ELSE n.status END, changes_connection_image(n)
            FROM new_rows n JOIN old_rows o ON o.id = n.id
            WHERE n.status IS DISTINCT FROM o.status
            RETURNING connection_id)
        SELECT changes_notify('connections', NULL, array_agg(connection_id)) INTO done FROM logged;
    ELSE
        WITH logged AS (
            INSERT INTO changes (table_name, connection_id, user_id, item_id, op, data)
            SELECT 'connections', o.id, nullif(o.user_id, ''), o.id::text, 'deleted', changes_connection_image(o) FROM old_rows o
            RETURNING connection_id)
        SELECT changes_notify('connections', NULL, array_agg(connection_id)) INTO done FROM logged;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER changes_insert AFTER INSERT ON connections REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION changes_connections();
CREATE TRIGGER changes_update AFTER UPDATE ON connections REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION changes_connections();
CREATE TRIGGER changes_delete AFTER DELETE ON connections REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION changes_connections();

-- Webhook endpoints: each is delivered the changes its filter keeps, in
-- order, from its own cursor, by River jobs (queue changes).
CREATE TABLE webhook_endpoints (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    url             text NOT NULL,
    resources       text[] NOT NULL DEFAULT '{}',
    connection_ids  bigint[] NOT NULL DEFAULT '{}',
    secret_key_id   text NOT NULL DEFAULT '',
    secret_enc      bytea NOT NULL DEFAULT '',
    cursor          text NOT NULL,
    delivered       bigint NOT NULL DEFAULT 0,
    last_success_at timestamptz,
    failing_since   timestamptz,
    failures        integer NOT NULL DEFAULT 0,
    last_error      text,
    last_error_at   timestamptz,
    kicks           bigint NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE webhook_endpoints IS 'HTTP endpoints the change feed is delivered to, in signed batches (graphsync webhooks add|list|remove).';
COMMENT ON COLUMN webhook_endpoints.id IS 'The endpoint''s id, as graphsync webhooks and the metrics name it.';
COMMENT ON COLUMN webhook_endpoints.url IS 'Where batches are POSTed.';
COMMENT ON COLUMN webhook_endpoints.resources IS 'Resources whose changes the endpoint receives; empty for all (a connection''s events always).';
COMMENT ON COLUMN webhook_endpoints.connection_ids IS 'Connections whose changes the endpoint receives; empty for all.';
COMMENT ON COLUMN webhook_endpoints.secret_key_id IS 'Id of the encryption key that sealed the signing secret.';
COMMENT ON COLUMN webhook_endpoints.secret_enc IS 'The HMAC-SHA256 signing secret, AES-256-GCM ciphertext; never plaintext.';
COMMENT ON COLUMN webhook_endpoints.cursor IS 'The change feed cursor delivered up to (within a batch under way, the batch being delivered, so a retry sends the same changes under the same delivery id).';
COMMENT ON COLUMN webhook_endpoints.delivered IS 'Changes delivered so far.';
COMMENT ON COLUMN webhook_endpoints.last_success_at IS 'When a batch was last accepted (2xx).';
COMMENT ON COLUMN webhook_endpoints.failing_since IS 'When the current run of failed deliveries began; NULL while deliveries succeed.';
COMMENT ON COLUMN webhook_endpoints.failures IS 'Failed deliveries in a row.';
COMMENT ON COLUMN webhook_endpoints.kicks IS 'Bumped with every request for a delivery: a delivery job that caught up completes only if none came meanwhile.';
COMMENT ON COLUMN webhook_endpoints.last_error IS 'Why the last delivery failed (status and the start of the answer, or the network error).';
COMMENT ON COLUMN webhook_endpoints.last_error_at IS 'When the last delivery failed.';
COMMENT ON COLUMN webhook_endpoints.created_at IS 'When the endpoint was added.';
