-- The raw JSON of every synced table is TOAST-compressed with lz4 instead
-- of PostgreSQL's default, pglz: compressing about 9 KB of jsonb per message
-- is most of what a COPY into mail_messages costs, and `make bench`
-- (storage) measured COPY about twice as fast with lz4 for about a sixth
-- more on disk (docs/benchmarks.md, "Storage"). Only values written from
-- now on are compressed with it; stored rows keep pglz until rewritten. A
-- server built without lz4 keeps pglz.
DO $$
DECLARE
    t text;
BEGIN
    FOR t IN SELECT table_name FROM information_schema.columns
             WHERE table_schema = current_schema() AND column_name = 'raw' AND data_type = 'jsonb'
             ORDER BY table_name
    LOOP
        EXECUTE format('ALTER TABLE %I ALTER COLUMN raw SET COMPRESSION lz4', t);
    END LOOP;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'this server has no lz4: raw columns keep pglz';
END $$;
