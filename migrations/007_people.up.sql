-- People relevant to a user (the People API). Graph offers no delta for it:
-- every round reads the whole relevance-ordered list, and people it no
-- longer returns are retired. A person's id is shared by every user who
-- works with them, so the key includes the user.

CREATE TABLE people (
    connection_id          bigint NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    user_id                text NOT NULL DEFAULT '',
    id                     text NOT NULL,
    display_name           text,
    given_name             text,
    surname                text,
    job_title              text,
    company_name           text,
    department             text,
    office_location        text,
    user_principal_name    text,
    person_class           text,
    person_subclass        text,
    scored_email_addresses jsonb,
    phones                 jsonb,
    relevance_rank         integer,
    raw                    jsonb NOT NULL,
    deleted_at             timestamptz,
    synced_at              timestamptz NOT NULL DEFAULT now(),
    seen_at                timestamptz,
    PRIMARY KEY (connection_id, user_id, id)
);
CREATE INDEX people_rank_idx ON people (connection_id, user_id, relevance_rank) WHERE deleted_at IS NULL;

COMMENT ON TABLE people IS 'People relevant to a user, from the People API ({user}/people) in relevance order. Re-read in full each round; no delta.';
COMMENT ON COLUMN people.connection_id IS 'The connection this row was synced through.';
COMMENT ON COLUMN people.user_id IS 'Entra object id of the user the person is relevant to.';
COMMENT ON COLUMN people.id IS 'Graph id of the person (the directory object id for people of the organization).';
COMMENT ON COLUMN people.display_name IS 'displayName.';
COMMENT ON COLUMN people.given_name IS 'givenName.';
COMMENT ON COLUMN people.surname IS 'surname.';
COMMENT ON COLUMN people.job_title IS 'jobTitle.';
COMMENT ON COLUMN people.company_name IS 'companyName.';
COMMENT ON COLUMN people.department IS 'department.';
COMMENT ON COLUMN people.office_location IS 'officeLocation.';
COMMENT ON COLUMN people.user_principal_name IS 'userPrincipalName; empty for people outside the organization.';
COMMENT ON COLUMN people.person_class IS 'personType.class: Person or Group.';
COMMENT ON COLUMN people.person_subclass IS 'personType.subclass, e.g. OrganizationUser, PersonalContact, UnifiedGroup.';
COMMENT ON COLUMN people.scored_email_addresses IS 'scoredEmailAddresses: addresses with their relevance scores, as Graph sent them.';
COMMENT ON COLUMN people.phones IS 'phones: typed phone numbers, as Graph sent them.';
COMMENT ON COLUMN people.relevance_rank IS 'Position in the user''s relevance-ordered list when last read, from 1 (most relevant); it shifts between rounds.';
COMMENT ON COLUMN people.raw IS 'The person as Graph sent it.';
COMMENT ON COLUMN people.deleted_at IS 'When a round no longer listed the person; NULL while listed.';
COMMENT ON COLUMN people.synced_at IS 'When the row''s content or rank last changed in this table.';
COMMENT ON COLUMN people.seen_at IS 'When a round last listed the person (used to retire people a round no longer lists).';
