-- The HTTP API for apps: the keys apps authenticate with, and the hosted
-- connect sessions an app starts for its end users. Neither stores a secret
-- in plaintext: a key is kept as its SHA-256, a session's link and OAuth
-- state likewise, and its PKCE verifier sealed with the encryption key.

CREATE TABLE api_keys (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL,
    prefix          text NOT NULL UNIQUE,
    hash            bytea NOT NULL,
    scopes          text[] NOT NULL,
    all_connections boolean NOT NULL DEFAULT false,
    connections     bigint[] NOT NULL DEFAULT '{}',
    expires_at      timestamptz,
    revoked_at      timestamptz,
    last_used_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (scopes <@ ARRAY['connect', 'token', 'proxy', 'changes'])
);

COMMENT ON TABLE api_keys IS 'Keys apps send as bearer tokens to the worker''s HTTP API (graphsync apikeys create); the key itself is shown once and never stored.';
COMMENT ON COLUMN api_keys.id IS 'graphsync''s id of the key.';
COMMENT ON COLUMN api_keys.name IS 'What the operator called the key (which app uses it).';
COMMENT ON COLUMN api_keys.prefix IS 'The public part of the key (gsk_<prefix>_...), used to find its row; not a secret.';
COMMENT ON COLUMN api_keys.hash IS 'SHA-256 of the whole key, compared in constant time; the key cannot be recovered from it.';
COMMENT ON COLUMN api_keys.scopes IS 'What the key may do: connect (hosted connect sessions), token (access tokens), proxy (the Graph proxy), changes (the change feed).';
COMMENT ON COLUMN api_keys.all_connections IS 'true: the key may use every connection, present and future.';
COMMENT ON COLUMN api_keys.connections IS 'The connections the key may use when all_connections is false; a connection made through a session the key created is added.';
COMMENT ON COLUMN api_keys.expires_at IS 'When the key stops working; NULL for never.';
COMMENT ON COLUMN api_keys.revoked_at IS 'When the key was revoked (graphsync apikeys revoke); a revoked key is refused.';
COMMENT ON COLUMN api_keys.last_used_at IS 'When a request last authenticated with the key (updated at most once a minute).';
COMMENT ON COLUMN api_keys.created_at IS 'When the key was created.';

CREATE TABLE connect_sessions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash      bytea NOT NULL UNIQUE,
    state_hash      bytea UNIQUE,
    api_key_id      bigint REFERENCES api_keys (id) ON DELETE SET NULL,
    kind            text NOT NULL CHECK (kind IN ('delegated', 'application')),
    resources       text[] NOT NULL,
    tenant          text NOT NULL,
    prompt          text NOT NULL DEFAULT '',
    login_hint      text NOT NULL DEFAULT '',
    end_user        text NOT NULL DEFAULT '',
    return_url      text NOT NULL,
    verifier_key_id text,
    verifier_enc    bytea,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'started', 'completed', 'failed')),
    connection_id   bigint REFERENCES connections (id) ON DELETE SET NULL,
    error_code      text,
    expires_at      timestamptz NOT NULL,
    started_at      timestamptz,
    finished_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX connect_sessions_expires_idx ON connect_sessions (expires_at);

COMMENT ON TABLE connect_sessions IS 'Hosted connect sessions: an app sends its end user to a session''s link, the worker runs the Microsoft sign-in (or admin consent) and sends the user back to the app. Single use, expiring; any worker process serves any step.';
COMMENT ON COLUMN connect_sessions.id IS 'graphsync''s id of the session.';
COMMENT ON COLUMN connect_sessions.token_hash IS 'SHA-256 of the secret in the session''s link (/connect/start/{token}); the link itself is not stored.';
COMMENT ON COLUMN connect_sessions.state_hash IS 'SHA-256 of the OAuth state sent to the identity platform when the session started; NULL before.';
COMMENT ON COLUMN connect_sessions.api_key_id IS 'The API key that created the session.';
COMMENT ON COLUMN connect_sessions.kind IS 'delegated (a user signs in) or application (a tenant administrator consents for the whole tenant).';
COMMENT ON COLUMN connect_sessions.resources IS 'The resources the new connection syncs; they decide the permissions asked for.';
COMMENT ON COLUMN connect_sessions.tenant IS 'The tenant the sign-in goes to: a tenant id or domain, or common or organizations.';
COMMENT ON COLUMN connect_sessions.prompt IS 'The prompt sent to the sign-in page: empty, login, consent or select_account.';
COMMENT ON COLUMN connect_sessions.login_hint IS 'The user name pre-filled on the sign-in page; empty for none.';
COMMENT ON COLUMN connect_sessions.end_user IS 'The app''s own identifier of its end user, echoed back to the app with the result.';
COMMENT ON COLUMN connect_sessions.return_url IS 'Where the user is sent back to, with connection_id or error; on the operator''s allow-list (GRAPHSYNC_CONNECT_RETURN_URLS).';
COMMENT ON COLUMN connect_sessions.verifier_key_id IS 'Id of the encryption key that sealed verifier_enc.';
COMMENT ON COLUMN connect_sessions.verifier_enc IS 'The PKCE code verifier, AES-256-GCM ciphertext; never plaintext. Cleared when the session ends.';
COMMENT ON COLUMN connect_sessions.status IS 'pending (link not opened yet), started (sent to the sign-in page), completed (connection stored) or failed (see error_code).';
COMMENT ON COLUMN connect_sessions.connection_id IS 'The connection stored or updated when the session completed.';
COMMENT ON COLUMN connect_sessions.error_code IS 'Why the session failed, as sent to the return URL: consent_denied, admin_approval_required, expired, ...';
COMMENT ON COLUMN connect_sessions.expires_at IS 'When the session stops being usable, started or not.';
COMMENT ON COLUMN connect_sessions.started_at IS 'When the link was opened.';
COMMENT ON COLUMN connect_sessions.finished_at IS 'When the sign-in came back (completed or failed).';
COMMENT ON COLUMN connect_sessions.created_at IS 'When the app created the session.';
