-- The identity platform's last refusal of the app's own credentials (a
-- wrong, expired or missing client secret), recorded by the worker that met
-- it and cleared by the next token issued, so that `graphsync status` and
-- `graphsync config check` show it to an operator, not only logs and
-- metrics.

CREATE TABLE app_credentials_refusal (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    code        text NOT NULL,
    reason      text NOT NULL,
    refused_at  timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE app_credentials_refusal IS 'At most one row: the identity platform''s last refusal of the app''s own credentials, until it next issues a token.';
COMMENT ON COLUMN app_credentials_refusal.singleton IS 'Always true: the table holds one row at most.';
COMMENT ON COLUMN app_credentials_refusal.code IS 'The OAuth error and AADSTS code, e.g. invalid_client AADSTS7000215.';
COMMENT ON COLUMN app_credentials_refusal.reason IS 'What it means in plain language.';
COMMENT ON COLUMN app_credentials_refusal.refused_at IS 'When a worker last met the refusal.';
