-- Shared and delegated mailboxes a delegated connection also syncs, and
-- the reconciliation passes that catch what delta missed.

CREATE TABLE connection_mailboxes (
    connection_id  bigint NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    user_id        text NOT NULL,
    address        text NOT NULL,
    display_name   text,
    status         text NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'no_access')),
    last_error     text,
    last_error_at  timestamptz,
    added_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, user_id)
);

COMMENT ON TABLE connection_mailboxes IS 'Other users'' mailboxes a delegated connection syncs besides its user''s own (graphsync connections mailboxes): shared or delegated mailboxes its user may read (Mail.Read.Shared, Calendars.Read.Shared). Their rows carry the mailbox''s user_id.';
COMMENT ON COLUMN connection_mailboxes.connection_id IS 'The delegated connection whose token reads the mailbox.';
COMMENT ON COLUMN connection_mailboxes.user_id IS 'Entra object id of the mailbox''s owner (its address, lower-cased, when the directory could not be read): the user_id of its rows and streams.';
COMMENT ON COLUMN connection_mailboxes.address IS 'The mailbox as the operator named it (e-mail address or id).';
COMMENT ON COLUMN connection_mailboxes.display_name IS 'The mailbox owner''s display name, when the directory could be read.';
COMMENT ON COLUMN connection_mailboxes.status IS 'ok, or no_access: Graph refused the mailbox (403) at the last sync, as when its owner withdrew the share; its rows stay as last synced and it is tried again every sync interval.';
COMMENT ON COLUMN connection_mailboxes.last_error IS 'Graph''s answer when the mailbox was refused.';
COMMENT ON COLUMN connection_mailboxes.last_error_at IS 'When the mailbox was last refused.';
COMMENT ON COLUMN connection_mailboxes.added_at IS 'When the mailbox was added.';

-- When each stream was last reconciled: its ids listed and compared with
-- its rows (see docs/reliability.md, "Reconciliation").
CREATE TABLE reconciliations (
    connection_id  bigint NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    user_id        text NOT NULL,
    resource       text NOT NULL,
    stream         text NOT NULL,
    reconciled_at  timestamptz NOT NULL,
    listed         bigint NOT NULL DEFAULT 0,
    deleted        bigint NOT NULL DEFAULT 0,
    fetched        bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (connection_id, user_id, resource, stream)
);

COMMENT ON TABLE reconciliations IS 'The last reconciliation pass of each stream: the ids Graph lists compared with the stream''s rows, rows Graph no longer has marked deleted and items missing fetched.';
COMMENT ON COLUMN reconciliations.connection_id IS 'The connection of the stream.';
COMMENT ON COLUMN reconciliations.user_id IS 'The mailbox of the stream (see sync_state.user_id).';
COMMENT ON COLUMN reconciliations.resource IS 'The stream''s resource.';
COMMENT ON COLUMN reconciliations.stream IS 'The stream''s container (see sync_state.stream).';
COMMENT ON COLUMN reconciliations.reconciled_at IS 'When the last pass began; the first pass is due a period after the stream''s first full round, spread over the period by a hash of the stream.';
COMMENT ON COLUMN reconciliations.listed IS 'Ids Graph listed in the last pass.';
COMMENT ON COLUMN reconciliations.deleted IS 'Rows the last pass marked deleted: Graph no longer lists them, and delta never said.';
COMMENT ON COLUMN reconciliations.fetched IS 'Items the last pass fetched: Graph lists them, and no live row held them.';
