-- Authentication abuse (docs/policy.md, "Authentication abuse"): failed SMTP AUTH
-- attempts counted per client address and per username in a sliding window, shared by
-- every replica; lockouts past the threshold; successful logins from addresses listed in
-- a DNSBL zone marked auth_suspicious, kept for compromise detection.

-- One row per failed attempt and counted key; rows older than the window are deleted.
CREATE TABLE auth_failures (
    kind       text NOT NULL CHECK (kind IN ('ip', 'username')),
    key        text NOT NULL,
    failed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX auth_failures_key_idx ON auth_failures (kind, key, failed_at);
CREATE INDEX auth_failures_failed_at_idx ON auth_failures (failed_at);

-- An address (421 at connect) or username (454 to AUTH) locked until locked_until.
CREATE TABLE auth_lockouts (
    kind          text NOT NULL CHECK (kind IN ('ip', 'username')),
    key           text NOT NULL,
    locked_at     timestamptz NOT NULL DEFAULT now(),
    locked_until  timestamptz NOT NULL,
    failures      integer NOT NULL,  -- failures in the window when the lock was set
    PRIMARY KEY (kind, key)
);
CREATE INDEX auth_lockouts_until_idx ON auth_lockouts (locked_until);

CREATE TABLE auth_suspicious_logins (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id     bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    credential_id  bigint REFERENCES credentials (id) ON DELETE SET NULL,
    username       text NOT NULL,
    client_ip      inet NOT NULL,
    zones          text[] NOT NULL,  -- the auth_suspicious zones that list client_ip
    logged_in_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX auth_suspicious_logins_account_idx ON auth_suspicious_logins (account_id, logged_in_at);
