-- Descriptions of the columns the first migrations left undocumented: every
-- table and column graphsync creates says what it holds (docs/schema.md is
-- generated from them).

COMMENT ON TABLE graphsync_migrations IS 'graphsync''s own schema migrations applied to this database (River keeps its own in river_migration).';
COMMENT ON COLUMN graphsync_migrations.version IS 'Number of the migration file (NNN_name.up.sql).';
COMMENT ON COLUMN graphsync_migrations.name IS 'Name of the migration file.';
COMMENT ON COLUMN graphsync_migrations.applied_at IS 'When the migration was applied.';

COMMENT ON COLUMN connections.id IS 'graphsync''s id of the connection; every synced row carries it as connection_id.';
COMMENT ON COLUMN connections.display_name IS 'The user''s display name, or "tenant <id>" for an application connection.';
COMMENT ON COLUMN connections.last_error_at IS 'When last_error happened.';
COMMENT ON COLUMN connections.token_refreshed_at IS 'When the access token was last refreshed.';
COMMENT ON COLUMN connections.created_at IS 'When the connection was first stored.';
COMMENT ON COLUMN connections.updated_at IS 'When the connection row last changed (status, resources, consent).';

COMMENT ON COLUMN sync_state.connection_id IS 'The connection the stream belongs to.';
COMMENT ON COLUMN sync_state.resource IS 'mail, calendar, contacts, drive, chats, people, or users (tenant discovery of an application connection).';
COMMENT ON COLUMN sync_state.status IS 'ok; error (see last_error); missing_scope (the permission in missing_scope was not granted); stopped (the user left the tenant).';
COMMENT ON COLUMN sync_state.last_success_at IS 'When a round of the stream last completed.';
COMMENT ON COLUMN sync_state.last_attempt_at IS 'When the stream was last synced or tried.';
COMMENT ON COLUMN sync_state.last_error IS 'The last failure of the stream, in words.';
COMMENT ON COLUMN sync_state.last_error_at IS 'When last_error happened.';
COMMENT ON COLUMN sync_state.pages IS 'Graph pages written, since the stream began.';
COMMENT ON COLUMN sync_state.upserted IS 'Rows inserted or changed, since the stream began.';
COMMENT ON COLUMN sync_state.deleted IS 'Rows marked deleted, since the stream began.';
COMMENT ON COLUMN sync_state.resyncs IS 'Times Graph expired the delta token and the stream was enumerated again.';

COMMENT ON COLUMN throttle_windows.until IS 'No request goes to the scope before this time.';
COMMENT ON COLUMN throttle_windows.reason IS 'Why, e.g. Retry-After from Graph.';
COMMENT ON COLUMN throttle_windows.updated_at IS 'When the window was last set.';

COMMENT ON COLUMN quarantine.id IS 'Id of the quarantined record.';
COMMENT ON COLUMN quarantine.connection_id IS 'The connection whose sync received the record.';
COMMENT ON COLUMN quarantine.resource IS 'The resource being synced (mail, calendar, …).';
COMMENT ON COLUMN quarantine.stream IS 'The stream (mail folder, chat…) whose page held the record.';
COMMENT ON COLUMN quarantine.item_id IS 'Graph id of the record, when it had a readable one.';
COMMENT ON COLUMN quarantine.error IS 'Why the record could not be stored, in words an operator can act on.';
COMMENT ON COLUMN quarantine.created_at IS 'When the record was quarantined.';

COMMENT ON COLUMN mail_folders.display_name IS 'Folder name as the user sees it.';
COMMENT ON COLUMN mail_folders.child_folder_count IS 'Number of direct child folders.';
COMMENT ON COLUMN mail_folders.unread_item_count IS 'Unread items in the folder, as Graph counts them.';
COMMENT ON COLUMN mail_folders.total_item_count IS 'Items in the folder, as Graph counts them.';
COMMENT ON COLUMN mail_folders.is_hidden IS 'Hidden folder (not shown in Outlook).';

COMMENT ON COLUMN mail_messages.subject IS 'Subject line.';
COMMENT ON COLUMN mail_messages.from_name IS 'Display name of the From address.';
COMMENT ON COLUMN mail_messages.is_read IS 'Read by the mailbox owner.';
COMMENT ON COLUMN mail_messages.is_draft IS 'An unsent draft.';
COMMENT ON COLUMN mail_messages.has_attachments IS 'Has file attachments (inline images excluded, as Graph reports it).';
COMMENT ON COLUMN mail_messages.conversation_id IS 'Conversation (thread) the message belongs to.';
COMMENT ON COLUMN mail_messages.internet_message_id IS 'RFC 2822 Message-ID, the same across mailboxes.';
COMMENT ON COLUMN mail_messages.categories IS 'Outlook categories applied to the message.';
COMMENT ON COLUMN mail_messages.web_link IS 'URL opening the message in Outlook on the web.';
