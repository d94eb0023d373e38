-- Domain health (docs/domain-health.md): what the last check of a sender domain's DKIM,
-- SPF and DMARC records found, as the admin API shows it, and when it ran. NULL until
-- the first check.
ALTER TABLE sender_domains
    ADD COLUMN health jsonb,
    ADD COLUMN health_checked_at timestamptz;

-- The periodic check claims the least recently checked domains first.
CREATE INDEX sender_domains_health_checked_idx ON sender_domains (health_checked_at NULLS FIRST);
