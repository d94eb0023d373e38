-- Per-account concurrent connection limits across replicas (docs/policy.md, "Concurrent
-- connections"). Every process counts its own sessions per account exactly and publishes
-- the non-zero counts here about once a second; a process admits a connection when its
-- own count plus the other live replicas' published counts is under the limit.
--
-- UNLOGGED: the rows describe connections that a database crash ends anyway, and they
-- are rewritten every interval; writing them to the WAL would only cost.

-- One row per running process (a fresh uuid at every start), its heartbeat renewed at
-- every publication. Rows of a process whose heartbeat is older than three intervals are
-- ignored, and deleted with their counts by any replica.
CREATE UNLOGGED TABLE connection_replicas (
    replica       uuid PRIMARY KEY,
    heartbeat_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX connection_replicas_heartbeat_idx ON connection_replicas (heartbeat_at);

-- Sessions a replica holds now per account (only accounts with a limit, only non-zero
-- counts). No reference to accounts: a deleted account's rows go with its sessions.
CREATE UNLOGGED TABLE connection_counts (
    replica     uuid NOT NULL REFERENCES connection_replicas (replica) ON DELETE CASCADE,
    account_id  bigint NOT NULL,
    sessions    integer NOT NULL CHECK (sessions > 0),
    PRIMARY KEY (replica, account_id)
);
CREATE INDEX connection_counts_account_idx ON connection_counts (account_id);
