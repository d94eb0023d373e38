-- Traffic shaping per destination group (docs/delivery.md "Traffic shaping per
-- destination"). Groups come from the configuration, so group_name is not a foreign key.
-- Every time below is from the delivery code's clock, never the database's now().

-- Message rates across replicas: each process leases blocks of a group's quota from the
-- row of its limit and fixed UTC window; `leased` never exceeds the limit in force when
-- the lease was taken. Rows of past windows are deleted by the leasing processes.
CREATE TABLE destination_usage (
    group_name    text NOT NULL CHECK (group_name ~ '^[a-z0-9_-]{1,64}$'),
    limit_name    text NOT NULL CHECK (limit_name IN ('messages_per_minute', 'messages_per_hour')),
    window_start  timestamptz NOT NULL,
    leased        bigint NOT NULL CHECK (leased >= 0),
    last_grant    bigint NOT NULL,  -- what the latest lease statement granted
    PRIMARY KEY (group_name, limit_name, window_start)
);

-- Push-back: a group a receiver asked to slow down. Its throttle scales the group's rates
-- and connections; no mail goes to the group before backoff_until; after that the throttle
-- recovers step by step (computed from these columns, never written back). One row per
-- configured group at most. `version` makes each change a compare-and-set.
CREATE TABLE destination_backoff (
    group_name     text PRIMARY KEY CHECK (group_name ~ '^[a-z0-9_-]{1,64}$'),
    throttle       double precision NOT NULL CHECK (throttle > 0 AND throttle <= 1),
    backoff_until  timestamptz NOT NULL,
    backoffs       bigint NOT NULL DEFAULT 0,
    last_reply     text,
    version        bigint NOT NULL,
    updated_at     timestamptz NOT NULL
);

-- Circuit breaker per MX host name: only hosts with recent connection failures have a row;
-- rows whose window and cool-down are over are deleted.
CREATE TABLE destination_circuits (
    host              text PRIMARY KEY CHECK (length(host) BETWEEN 1 AND 255),
    failures          integer NOT NULL CHECK (failures >= 0),
    first_failure_at  timestamptz NOT NULL,
    open_until        timestamptz,  -- skipped until then; NULL while closed
    probe_until       timestamptz,  -- a half-open probe connection is out until then
    last_error        text,
    version           bigint NOT NULL,
    updated_at        timestamptz NOT NULL
);
