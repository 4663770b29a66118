-- The details queue is read oldest first, a batch at a time, until it is
-- empty: an index in that order lets each batch stop after its rows rather
-- than sort every item still queued.
CREATE INDEX detail_fetches_queue_idx ON detail_fetches (connection_id, user_id, table_name, queued_at, item_id)
    WHERE want_version IS DISTINCT FROM done_version;
DROP INDEX detail_fetches_pending_idx;
