-- Users of a tenant discovered through users/delta by an application
-- connection. Each live user's resources are synced as streams of that
-- connection; a user removed from the tenant has them stopped and retired.

CREATE TABLE directory_users (
    connection_id       bigint NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    id                  text NOT NULL,
    user_principal_name text,
    display_name        text,
    mail                text,
    given_name          text,
    surname             text,
    job_title           text,
    department          text,
    office_location     text,
    account_enabled     boolean,
    user_type           text,
    raw                 jsonb NOT NULL,
    deleted_at          timestamptz,
    synced_at           timestamptz NOT NULL DEFAULT now(),
    seen_at             timestamptz,
    PRIMARY KEY (connection_id, id)
);
CREATE INDEX directory_users_live_idx ON directory_users (connection_id) WHERE deleted_at IS NULL;

COMMENT ON TABLE directory_users IS 'Users of a tenant synced by an application connection, from users/delta. Their mail, calendar, drive and people rows carry their id in user_id.';
COMMENT ON COLUMN directory_users.connection_id IS 'The application connection (tenant) this user was discovered through.';
COMMENT ON COLUMN directory_users.id IS 'Entra object id of the user.';
COMMENT ON COLUMN directory_users.user_principal_name IS 'Sign-in name (UPN).';
COMMENT ON COLUMN directory_users.display_name IS 'displayName.';
COMMENT ON COLUMN directory_users.mail IS 'Primary SMTP address, lower-cased; NULL for users without a mailbox.';
COMMENT ON COLUMN directory_users.given_name IS 'givenName.';
COMMENT ON COLUMN directory_users.surname IS 'surname.';
COMMENT ON COLUMN directory_users.job_title IS 'jobTitle.';
COMMENT ON COLUMN directory_users.department IS 'department.';
COMMENT ON COLUMN directory_users.office_location IS 'officeLocation.';
COMMENT ON COLUMN directory_users.account_enabled IS 'accountEnabled, when Graph returned it.';
COMMENT ON COLUMN directory_users.user_type IS 'Member or Guest, when Graph returned it.';
COMMENT ON COLUMN directory_users.raw IS 'The user as Graph sent it (updates merged).';
COMMENT ON COLUMN directory_users.deleted_at IS 'When graphsync learnt the user left the tenant; their synced rows were retired then. NULL while the user exists.';
COMMENT ON COLUMN directory_users.synced_at IS 'When the row last changed in this table.';
COMMENT ON COLUMN directory_users.seen_at IS 'When a full enumeration last saw the row (used to retire users a resync no longer sees).';
