-- What each worker process's gates let through now. Gates live in each
-- process's memory; every few seconds a process replaces its rows here, so
-- that `graphsync status` can show them. Rows of a process that stopped
-- lapse at expires_at and are deleted by the next process to publish.

CREATE TABLE gate_states (
    holder          text NOT NULL,
    scope           text NOT NULL,
    rate            double precision NOT NULL,
    configured_rate double precision NOT NULL,
    concurrency     integer NOT NULL,
    max_concurrency integer NOT NULL,
    learned_rate    double precision NOT NULL,
    throttles       bigint NOT NULL,
    blocked_until   timestamptz,
    published_at    timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    PRIMARY KEY (holder, scope)
);
CREATE INDEX gate_states_expires_at ON gate_states (expires_at);
COMMENT ON TABLE gate_states IS 'Snapshot of each worker process''s throttling gates (every tenant service''s, and the mailboxes'' that Graph slowed, blocked or throttled), replaced every few seconds by the process.';
COMMENT ON COLUMN gate_states.holder IS 'The process: host, process id and a random suffix (as in budget_leases.holder).';
COMMENT ON COLUMN gate_states.scope IS 'The throttling scope: mailbox:<tenant>/<mailbox> or tenant:<tenant>/<service>.';
COMMENT ON COLUMN gate_states.rate IS 'Requests (OneDrive, directory: resource units) per second the gate lets through now; 0 for a gate without a rate.';
COMMENT ON COLUMN gate_states.configured_rate IS 'The configured rate the gate would use without Graph''s answers; rate is below it while they slow the gate.';
COMMENT ON COLUMN gate_states.concurrency IS 'Requests in flight the gate allows now; 0 for a gate without a cap.';
COMMENT ON COLUMN gate_states.max_concurrency IS 'The configured cap on requests in flight (Outlook: 4); 0 for none.';
COMMENT ON COLUMN gate_states.learned_rate IS 'The rate Graph last throttled the gate at, which it settles just under; 0 when none is known.';
COMMENT ON COLUMN gate_states.throttles IS 'Times Graph answered the gate 429 or 503 (bursts counted once) since the process created it.';
COMMENT ON COLUMN gate_states.blocked_until IS 'End of the Retry-After window the process honours for the scope; NULL when none is open.';
COMMENT ON COLUMN gate_states.published_at IS 'When the process published the snapshot (database clock).';
COMMENT ON COLUMN gate_states.expires_at IS 'When the snapshot lapses unless replaced: a process that stopped publishing no longer shows.';
