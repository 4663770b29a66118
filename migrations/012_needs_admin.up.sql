-- A connection whose tenant refuses the app (tenant not found, the app not
-- installed, consented or enabled there, a tenant policy) waits for that
-- tenant's administrator: status needs_admin, distinct from needs_reauth
-- (only the user can help) and from the app-wide credentials alarm.

ALTER TABLE connections DROP CONSTRAINT connections_status_check;
ALTER TABLE connections ADD CONSTRAINT connections_status_check
    CHECK (status IN ('active', 'needs_reauth', 'needs_admin', 'disabled'));

COMMENT ON COLUMN connections.status IS 'active; needs_reauth (the user must sign in again, see last_error); needs_admin (the tenant refuses the app: an administrator of the tenant must act, see last_error; `graphsync connections enable` tries again); disabled (by an operator).';
