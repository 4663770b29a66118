-- Graph change-notification subscriptions that graphsync manages: one per
-- connection, user and resource that Graph can notify about. A stream with
-- an active subscription is synced when Graph says it changed, and polled
-- only as a safety net.

CREATE TABLE subscriptions (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    connection_id       bigint NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    user_id             text NOT NULL DEFAULT '',
    resource            text NOT NULL,
    graph_resource      text NOT NULL,
    graph_id            text,
    status              text NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'active', 'failed', 'missing_scope', 'limit_reached')),
    client_state_key_id text,
    client_state_enc    bytea,
    expires_at          timestamptz,
    renew_at            timestamptz,
    last_error          text,
    last_error_at       timestamptz,
    failures            integer NOT NULL DEFAULT 0,
    subscribed_at       timestamptz,
    notified_at         timestamptz,
    notifications       bigint NOT NULL DEFAULT 0,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (connection_id, user_id, resource)
);
CREATE UNIQUE INDEX subscriptions_graph_id_idx ON subscriptions (graph_id) WHERE graph_id IS NOT NULL;
CREATE INDEX subscriptions_renew_idx ON subscriptions (renew_at);

COMMENT ON TABLE subscriptions IS 'Graph change-notification subscriptions graphsync manages: one per connection, user and resource Graph can notify about.';
COMMENT ON COLUMN subscriptions.id IS 'graphsync''s id of the subscription.';
COMMENT ON COLUMN subscriptions.connection_id IS 'The connection the subscription belongs to.';
COMMENT ON COLUMN subscriptions.user_id IS 'The user (mailbox) whose data it covers; empty for an application connection''s user discovery.';
COMMENT ON COLUMN subscriptions.resource IS 'The graphsync resource it covers: mail, calendar, contacts, drive, chats, or users.';
COMMENT ON COLUMN subscriptions.graph_resource IS 'The subscribed Graph resource, e.g. users/{id}/messages.';
COMMENT ON COLUMN subscriptions.graph_id IS 'Graph''s id of the subscription; NULL until Graph created it.';
COMMENT ON COLUMN subscriptions.status IS 'pending (to be created); active; failed (see last_error, retried with backoff); missing_scope (the permission was not granted); limit_reached (the mailbox holds Graph''s maximum of subscriptions across apps).';
COMMENT ON COLUMN subscriptions.client_state_key_id IS 'Id of the encryption key that sealed client_state_enc.';
COMMENT ON COLUMN subscriptions.client_state_enc IS 'The secret Graph echoes in each notification (clientState), AES-256-GCM ciphertext; never plaintext.';
COMMENT ON COLUMN subscriptions.expires_at IS 'When Graph ends the subscription unless it is renewed.';
COMMENT ON COLUMN subscriptions.renew_at IS 'When graphsync next renews (or creates, or retries) the subscription: halfway to expiry.';
COMMENT ON COLUMN subscriptions.last_error IS 'Plain-language reason of the last failure to create or renew.';
COMMENT ON COLUMN subscriptions.last_error_at IS 'When last_error happened.';
COMMENT ON COLUMN subscriptions.failures IS 'Failures in a row; the retry backoff grows with them.';
COMMENT ON COLUMN subscriptions.subscribed_at IS 'When Graph created the current subscription (renewals keep it).';
COMMENT ON COLUMN subscriptions.notified_at IS 'When the last change notification for it arrived, or (once) when it was created: changes made before went unnotified, so creating it asks for a sync like a notification.';
COMMENT ON COLUMN subscriptions.notifications IS 'Change notifications received, plus one per creation.';
COMMENT ON COLUMN subscriptions.created_at IS 'When the row was first stored.';
COMMENT ON COLUMN subscriptions.updated_at IS 'When the row last changed.';
