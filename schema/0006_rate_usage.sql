-- Per-account rate limits across replicas (DESIGN.md contract 5, docs/policy.md): each
-- process leases blocks of quota from the row of its account, limit and fixed UTC window;
-- `leased` never exceeds the limit, so all replicas together never accept more.
CREATE TABLE rate_usage (
    account_id    bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    limit_name    text NOT NULL CHECK (limit_name IN ('messages_per_minute', 'messages_per_hour',
                  'messages_per_day', 'recipients_per_hour', 'recipients_per_day')),
    window_start  timestamptz NOT NULL,
    leased        bigint NOT NULL CHECK (leased >= 0),
    last_grant    bigint NOT NULL,  -- what the latest lease statement granted
    PRIMARY KEY (account_id, limit_name, window_start)
);
