-- Chats are read with the preview of their newest message, which tells
-- which chats have new messages; the preview is not stored.

COMMENT ON COLUMN chats.last_updated_at IS 'lastUpdatedDateTime: when the chat was last renamed or its members changed, as Microsoft documents it; new, edited and deleted messages do not move it.';
COMMENT ON COLUMN chats.raw IS 'The chat as Graph sent it, members included, without lastMessagePreview (the newest message changes with every message; chat_messages holds them).';
