-- A message's raw JSON is stored as json, not jsonb: the bytes Graph sent,
-- checked but not converted. Converting about 9 KB of JSON per message to
-- jsonb was the largest single cost of writing a message in PostgreSQL
-- (docs/benchmarks.md, "Storage"), paid on every initial sync for a column
-- read by key now and then (->, ->> work on json alike). What json gives up:
-- jsonb operators and functions (@>, ?, jsonb_path_*) need raw::jsonb, no
-- GIN index can be built on raw itself (one on (raw::jsonb) can), each ->>
-- parses the document again, and repeated keys are kept as sent (->> reads
-- the last, as jsonb keeps it). Other tables' raw stays jsonb: they are
-- small, and calendar items query theirs with ?. The column is rewritten
-- (ACCESS EXCLUSIVE on mail_messages while it is), keeping lz4 where the
-- server has it.
ALTER TABLE mail_messages ALTER COLUMN raw TYPE json USING raw::json;

DO $$
BEGIN
    ALTER TABLE mail_messages ALTER COLUMN raw SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'this server has no lz4: mail_messages.raw keeps pglz';
END $$;

COMMENT ON COLUMN mail_messages.raw IS 'The message as Graph sent it (updates merged), body included; json, not jsonb (cast to jsonb for jsonb operators).';
