-- Admin API views of what the SMTP side refuses and of the relay's outbound reputation
-- (admin-api/stats.cpp, admin-api/reputation.cpp). Both tables are written by the policy
-- layer (relay/policy); the API only reads them.

-- One row per refused SMTP command or message: a policy refusal (sender domain, DNSBL,
-- suppressed recipient, size) or a rate-limit hit. `reason` is a short token; reasons
-- starting with 'rate_limit' ('rate_limit', 'rate_limit:messages_per_minute', ...) count
-- as rate-limit hits. account_id is NULL when the client was not yet identified.
CREATE TABLE rejections (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id  bigint REFERENCES accounts (id) ON DELETE CASCADE,
    reason      text NOT NULL CHECK (reason ~ '^[a-z0-9_.:-]{1,64}$'),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rejections_account_created_idx ON rejections (account_id, created_at);

-- The latest DNSBL answer for each outbound source address and zone, replaced by the
-- DNSBL checker on every check.
CREATE TABLE outbound_listings (
    source_address  inet NOT NULL,
    zone            text NOT NULL,
    listed          boolean NOT NULL,
    answer          text,  -- the A/TXT answer when listed, e.g. "127.0.0.2"
    checked_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source_address, zone)
);
