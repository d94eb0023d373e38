-- Transport security of outbound mail per destination domain (docs/delivery.md
-- "Per-domain TLS policy" and "MTA-STS").

-- The operator's policy for a domain, set through the admin API; it wins over DANE,
-- MTA-STS and [delivery] tls for that domain. `id` is the admin API's page cursor.
CREATE TABLE tls_policies (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    domain      text NOT NULL UNIQUE
                CHECK (domain = lower(domain) AND length(domain) BETWEEN 1 AND 253),
    policy      text NOT NULL CHECK (policy IN ('require', 'verify', 'opportunistic')),
    note        text NOT NULL DEFAULT '' CHECK (length(note) <= 500),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- MTA-STS policies (RFC 8461) as fetched, shared by every delivery replica. A row is
-- replaced when the domain's TXT id changes or it expires; expired rows are deleted by
-- the delivery role's purge, so the table holds at most the domains mailed to within
-- the policies' max_age (at most a year, RFC 8461 3.2).
CREATE TABLE mta_sts_policies (
    domain           text PRIMARY KEY CHECK (length(domain) BETWEEN 1 AND 253),
    policy_id        text NOT NULL CHECK (policy_id ~ '^[A-Za-z0-9]{1,32}$'),
    mode             text NOT NULL CHECK (mode IN ('enforce', 'testing', 'none')),
    mx               text[] NOT NULL CHECK (cardinality(mx) <= 100),
    max_age_seconds  integer NOT NULL CHECK (max_age_seconds BETWEEN 0 AND 31557600),
    fetched_at       timestamptz NOT NULL,
    expires_at       timestamptz NOT NULL
);

CREATE INDEX mta_sts_policies_expires_idx ON mta_sts_policies (expires_at);
