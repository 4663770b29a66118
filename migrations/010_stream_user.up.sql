-- A stream's user becomes a column of its own. Streams of an application
-- connection were named "<user id>/<container>", and the user was split out
-- of the name in SQL; a delegated connection's streams named no user. Now
-- every stream row says whose mailbox it reads, and its name is only the
-- container.

ALTER TABLE sync_state ADD COLUMN user_id text NOT NULL DEFAULT '';
ALTER TABLE quarantine ADD COLUMN user_id text NOT NULL DEFAULT '';
-- The old key has no user: two users' streams collide under it once split.
ALTER TABLE sync_state DROP CONSTRAINT sync_state_pkey;

UPDATE sync_state s SET user_id = c.user_id
FROM connections c WHERE c.id = s.connection_id AND c.kind = 'delegated';

UPDATE sync_state s SET user_id = split_part(s.stream, '/', 1),
    stream = substr(s.stream, length(split_part(s.stream, '/', 1)) + 2)
FROM connections c
WHERE c.id = s.connection_id AND c.kind = 'application' AND s.resource <> 'users' AND position('/' in s.stream) > 0;

UPDATE quarantine q SET user_id = c.user_id
FROM connections c WHERE c.id = q.connection_id AND c.kind = 'delegated';

UPDATE quarantine q SET user_id = split_part(q.stream, '/', 1),
    stream = substr(q.stream, length(split_part(q.stream, '/', 1)) + 2)
FROM connections c
WHERE c.id = q.connection_id AND c.kind = 'application' AND q.resource <> 'users' AND position('/' in q.stream) > 0;

ALTER TABLE sync_state ADD PRIMARY KEY (connection_id, user_id, resource, stream);

COMMENT ON COLUMN sync_state.user_id IS 'The user (mailbox) whose data the stream reads: the connection''s user for a delegated connection, one user of the tenant for an application connection; empty for an application connection''s user discovery (resource users).';
COMMENT ON COLUMN sync_state.stream IS 'Container within the resource and user: a mail or contact folder id, "folders" (the folder hierarchy), "contacts" (the default Contacts folder), "events", "drive" or "drives/<drive id>", "list" (the chat list) or a chat id, "people"; empty for the resource''s top level, whose last_success_at says when the resource as a whole last synced for the user.';
COMMENT ON COLUMN quarantine.user_id IS 'The user (mailbox) whose stream sent the record; empty for user discovery.';
COMMENT ON COLUMN quarantine.stream IS 'The container of the stream that sent the record (see sync_state.stream).';
