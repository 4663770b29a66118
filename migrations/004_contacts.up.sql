-- Outlook contacts: the contact folder hierarchy from contactFolders/delta,
-- and each folder's contacts from its own contacts/delta. The default
-- Contacts folder is not listed by contactFolders/delta; its contacts are
-- synced through the well-known name contacts.

CREATE TABLE contact_folders (
    connection_id    bigint NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    id               text NOT NULL,
    user_id          text NOT NULL DEFAULT '',
    display_name     text,
    parent_folder_id text,
    raw              jsonb NOT NULL,
    deleted_at       timestamptz,
    synced_at        timestamptz NOT NULL DEFAULT now(),
    seen_at          timestamptz,
    PRIMARY KEY (connection_id, id)
);

CREATE TABLE contacts (
    connection_id    bigint NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    id               text NOT NULL,
    user_id          text NOT NULL DEFAULT '',
    folder_id        text,
    display_name     text,
    given_name       text,
    surname          text,
    email_addresses  jsonb,
    email_address    text,
    business_phones  text[],
    mobile_phone     text,
    home_phones      text[],
    company_name     text,
    job_title        text,
    department       text,
    categories       text[],
    birthday         date,
    created_at       timestamptz,
    last_modified_at timestamptz,
    raw              jsonb NOT NULL,
    deleted_at       timestamptz,
    synced_at        timestamptz NOT NULL DEFAULT now(),
    seen_at          timestamptz,
    PRIMARY KEY (connection_id, id)
);
CREATE INDEX contacts_folder_idx ON contacts (connection_id, user_id, folder_id) WHERE deleted_at IS NULL;
CREATE INDEX contacts_email_idx ON contacts (email_address);

COMMENT ON TABLE contact_folders IS 'Outlook contact folders below the default Contacts folder, from contactFolders/delta.';
COMMENT ON COLUMN contact_folders.connection_id IS 'The connection this row was synced through.';
COMMENT ON COLUMN contact_folders.id IS 'Graph id of the folder.';
COMMENT ON COLUMN contact_folders.user_id IS 'Entra object id of the mailbox owner.';
COMMENT ON COLUMN contact_folders.display_name IS 'displayName.';
COMMENT ON COLUMN contact_folders.parent_folder_id IS 'Graph id of the parent folder (the default Contacts folder for top-level folders).';
COMMENT ON COLUMN contact_folders.raw IS 'The folder as Graph sent it (partial updates merged).';
COMMENT ON COLUMN contact_folders.deleted_at IS 'When graphsync learnt the folder was deleted; NULL while it exists.';
COMMENT ON COLUMN contact_folders.synced_at IS 'When the row last changed in this table.';
COMMENT ON COLUMN contact_folders.seen_at IS 'When a full enumeration last saw the row (used to retire rows a resync no longer sees).';

COMMENT ON TABLE contacts IS 'Outlook contacts, from each contact folder''s contacts/delta (the default Contacts folder included).';
COMMENT ON COLUMN contacts.connection_id IS 'The connection this row was synced through.';
COMMENT ON COLUMN contacts.id IS 'Immutable Graph id of the contact.';
COMMENT ON COLUMN contacts.user_id IS 'Entra object id of the mailbox owner.';
COMMENT ON COLUMN contacts.folder_id IS 'Graph id of the folder holding the contact (parentFolderId).';
COMMENT ON COLUMN contacts.display_name IS 'displayName.';
COMMENT ON COLUMN contacts.given_name IS 'givenName.';
COMMENT ON COLUMN contacts.surname IS 'surname.';
COMMENT ON COLUMN contacts.email_addresses IS 'emailAddresses ({name, address} objects), as Graph sent them.';
COMMENT ON COLUMN contacts.email_address IS 'The first e-mail address, lower-cased, for lookups.';
COMMENT ON COLUMN contacts.business_phones IS 'businessPhones.';
COMMENT ON COLUMN contacts.mobile_phone IS 'mobilePhone.';
COMMENT ON COLUMN contacts.home_phones IS 'homePhones.';
COMMENT ON COLUMN contacts.company_name IS 'companyName.';
COMMENT ON COLUMN contacts.job_title IS 'jobTitle.';
COMMENT ON COLUMN contacts.department IS 'department.';
COMMENT ON COLUMN contacts.categories IS 'Outlook categories assigned to the contact.';
COMMENT ON COLUMN contacts.birthday IS 'birthday, as a date (Graph sends midnight UTC).';
COMMENT ON COLUMN contacts.created_at IS 'createdDateTime.';
COMMENT ON COLUMN contacts.last_modified_at IS 'lastModifiedDateTime.';
COMMENT ON COLUMN contacts.raw IS 'The contact as Graph sent it (partial updates merged).';
COMMENT ON COLUMN contacts.deleted_at IS 'When graphsync learnt the contact was deleted (or its folder was); NULL while it exists.';
COMMENT ON COLUMN contacts.synced_at IS 'When the row last changed in this table.';
COMMENT ON COLUMN contacts.seen_at IS 'When a full enumeration last saw the row (used to retire rows a resync no longer sees).';
