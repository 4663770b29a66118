-- Connections, their per-stream sync state, throttle windows shared by every
-- worker process, and the quarantine for records that cannot be stored.

CREATE TABLE connections (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind                    text NOT NULL CHECK (kind IN ('delegated', 'application')),
    tenant_id               text NOT NULL,
    user_id                 text NOT NULL DEFAULT '',
    user_principal_name     text NOT NULL DEFAULT '',
    display_name            text NOT NULL DEFAULT '',
    scopes                  text[] NOT NULL DEFAULT '{}',
    resources               text[] NOT NULL DEFAULT '{}',
    status                  text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'needs_reauth', 'disabled')),
    last_error              text,
    last_error_code         text,
    last_error_at           timestamptz,
    token_key_id            text,
    access_token_enc        bytea,
    refresh_token_enc       bytea,
    access_token_expires_at timestamptz,
    token_refreshed_at      timestamptz,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    UNIQUE (kind, tenant_id, user_id)
);
COMMENT ON TABLE connections IS 'One Microsoft account (delegated) or tenant (application) that graphsync syncs.';
COMMENT ON COLUMN connections.kind IS 'delegated: one user signed in through OAuth; application: a whole tenant through client credentials.';
COMMENT ON COLUMN connections.tenant_id IS 'Entra tenant id (GUID).';
COMMENT ON COLUMN connections.user_id IS 'Entra object id of the user; empty for application connections.';
COMMENT ON COLUMN connections.user_principal_name IS 'The user''s sign-in name (UPN).';
COMMENT ON COLUMN connections.scopes IS 'Scopes granted by the identity platform.';
COMMENT ON COLUMN connections.resources IS 'Resources synced for this connection: mail, calendar, drive, chats, people, contacts.';
COMMENT ON COLUMN connections.status IS 'active; needs_reauth (the user must sign in again, see last_error); disabled (by an operator).';
COMMENT ON COLUMN connections.last_error IS 'Plain-language reason for the last failure of the connection itself (token refresh).';
COMMENT ON COLUMN connections.last_error_code IS 'Machine code of the last failure, e.g. AADSTS700082.';
COMMENT ON COLUMN connections.token_key_id IS 'Id of the encryption key that sealed the token columns.';
COMMENT ON COLUMN connections.access_token_enc IS 'Access token, AES-256-GCM ciphertext; never plaintext.';
COMMENT ON COLUMN connections.refresh_token_enc IS 'Refresh token, AES-256-GCM ciphertext; never plaintext.';
COMMENT ON COLUMN connections.access_token_expires_at IS 'When the stored access token expires.';

CREATE TABLE sync_state (
    connection_id    bigint NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    resource         text NOT NULL,
    stream           text NOT NULL DEFAULT '',
    status           text NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'error', 'missing_scope', 'stopped')),
    delta_link       text,
    next_link        text,
    round_started_at timestamptz,
    full_round       boolean NOT NULL DEFAULT false,
    watermark        text,
    last_success_at  timestamptz,
    last_attempt_at  timestamptz,
    last_error       text,
    last_error_at    timestamptz,
    missing_scope    text,
    pages            bigint NOT NULL DEFAULT 0,
    upserted         bigint NOT NULL DEFAULT 0,
    deleted          bigint NOT NULL DEFAULT 0,
    resyncs          bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (connection_id, resource, stream)
);
COMMENT ON TABLE sync_state IS 'Checkpoint of one stream: a resource of a connection, or a container within it (one mail folder, one chat).';
COMMENT ON COLUMN sync_state.stream IS 'Container id within the resource (mail folder id, chat id); empty for the resource''s top level.';
COMMENT ON COLUMN sync_state.delta_link IS 'Graph deltaLink of the last completed round; the next round starts there.';
COMMENT ON COLUMN sync_state.next_link IS 'nextLink of the round in progress, committed with each page so a crash resumes at the next page.';
COMMENT ON COLUMN sync_state.round_started_at IS 'When the round in progress began.';
COMMENT ON COLUMN sync_state.full_round IS 'The round in progress enumerates everything (initial or after a resync); rows it does not see are retired at its end.';
COMMENT ON COLUMN sync_state.watermark IS 'Resource-specific position for resources without delta (e.g. a chat''s lastModifiedDateTime).';
COMMENT ON COLUMN sync_state.missing_scope IS 'When status is missing_scope: the permission the resource needs.';

CREATE TABLE throttle_windows (
    scope      text PRIMARY KEY,
    until      timestamptz NOT NULL,
    reason     text NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE throttle_windows IS 'Retry-After windows from Graph, shared by every worker process: no request goes to a scope before until.';
COMMENT ON COLUMN throttle_windows.scope IS 'What is throttled, e.g. mailbox:<tenant>/<user> or tenant:<tenant>/teams.';

CREATE TABLE quarantine (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    connection_id bigint REFERENCES connections (id) ON DELETE CASCADE,
    resource      text NOT NULL,
    stream        text NOT NULL DEFAULT '',
    item_id       text,
    error         text NOT NULL,
    payload       bytea,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX quarantine_connection_idx ON quarantine (connection_id, resource);
COMMENT ON TABLE quarantine IS 'Records Graph sent that could not be stored, with the reason; the rest of the sync went on.';
COMMENT ON COLUMN quarantine.payload IS 'The record exactly as received (bytes, since it may not be valid JSON or UTF-8).';
