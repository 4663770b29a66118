-- Tenant budgets every worker process (and anything else on graph.Client)
-- draws from: one token bucket per tenant and service that Microsoft limits
-- per app and tenant (Teams requests, OneDrive and SharePoint resource
-- units). A process takes a small slice of a bucket at a time and spends
-- it within a short lease, so it asks PostgreSQL once per slice, not once
-- per request. Tokens a process took and did not spend (it died, or had
-- nothing more to send) are not given back: a bucket errs towards sending
-- less, never more.

CREATE TABLE tenant_budgets (
    scope      text PRIMARY KEY,
    tokens     double precision NOT NULL,
    rate       double precision NOT NULL CHECK (rate > 0),
    burst      double precision NOT NULL CHECK (burst > 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE tenant_budgets IS 'Shared token buckets of the tenant-wide Graph limits (Teams requests, OneDrive resource units), one per tenant and service, drawn from by every worker process.';
COMMENT ON COLUMN tenant_budgets.scope IS 'The throttling scope: tenant:<tenant>/<service>, e.g. tenant:<tenant>/teams.';
COMMENT ON COLUMN tenant_budgets.tokens IS 'Requests (Teams) or resource units (OneDrive) left in the bucket at updated_at.';
COMMENT ON COLUMN tenant_budgets.rate IS 'Tokens added per second: the configured budget less the margin that leases and the burst need.';
COMMENT ON COLUMN tenant_budgets.burst IS 'Most tokens the bucket holds.';
COMMENT ON COLUMN tenant_budgets.updated_at IS 'When tokens was last computed (the database clock, shared by every process).';

CREATE TABLE budget_leases (
    scope      text NOT NULL REFERENCES tenant_budgets (scope) ON DELETE CASCADE,
    holder     text NOT NULL,
    tokens     double precision NOT NULL,
    taken      bigint NOT NULL DEFAULT 0,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (scope, holder)
);
COMMENT ON TABLE budget_leases IS 'The latest slice of a tenant budget each process took; a lease past expires_at is spent or void (its holder may be gone).';
COMMENT ON COLUMN budget_leases.scope IS 'The bucket the slice came from (tenant_budgets.scope).';
COMMENT ON COLUMN budget_leases.holder IS 'The process that took it: host, process id and a random suffix.';
COMMENT ON COLUMN budget_leases.tokens IS 'Tokens of the latest slice.';
COMMENT ON COLUMN budget_leases.taken IS 'Tokens the holder has taken from the bucket since it first did.';
COMMENT ON COLUMN budget_leases.expires_at IS 'When the latest slice lapses: what the holder has not spent by then it does not spend.';
