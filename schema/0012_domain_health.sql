-- Domain health (docs/domain-health.md): what the last check of a sender domain's DKIM,
-- SPF and DMARC records found, as the admin API shows it, and when it ran.
--
-- A table of its own rather than columns of sender_domains: the periodic check claims its
-- rows with FOR UPDATE SKIP LOCKED, and so does the ownership re-check, on sender_domains,
-- at the same moments; two claims on the same rows would make each skip the other's.
CREATE TABLE sender_domain_health (
    sender_domain_id  bigint PRIMARY KEY REFERENCES sender_domains (id) ON DELETE CASCADE,
    health            jsonb,                 -- NULL until the first check has finished
    checked_at        timestamptz NOT NULL   -- last claimed or checked; '-infinity': never
);

-- The periodic check claims the least recently checked domains first.
CREATE INDEX sender_domain_health_checked_idx ON sender_domain_health (checked_at);
