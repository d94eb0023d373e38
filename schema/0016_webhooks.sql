-- Webhooks (docs/webhooks.md): endpoints an operator registers, a transactional outbox of
-- events, and one delivery row per endpoint and event that the delivery role drains with
-- leases, like recipients.
--
-- An event and its deliveries are written by the statement that makes the change the
-- event reports (relay/events/outbox.hpp), in the same transaction, and only when some
-- enabled endpoint wants that kind for that account: without endpoints nothing is written.

CREATE TABLE webhook_endpoints (
    id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- NULL: a global endpoint, which receives the events of every account.
    account_id            bigint REFERENCES accounts (id) ON DELETE CASCADE,
    url                   text NOT NULL CHECK (url ~ '^https?://' AND length(url) <= 2048),
    event_types           text[] NOT NULL CHECK (cardinality(event_types) >= 1),
    -- The signing secret as shown once at creation ("whsec_" + base64 of 32 random
    -- octets), stored as-is: signing needs it (docs/security.md, "Webhooks").
    secret                text NOT NULL,
    description           text NOT NULL DEFAULT '',
    enabled               boolean NOT NULL DEFAULT true,
    last_success_at       timestamptz,
    last_failure_at       timestamptz,
    last_failure_reason   text,
    consecutive_failures  integer NOT NULL DEFAULT 0,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX webhook_endpoints_account_idx ON webhook_endpoints (account_id);

-- The outbox. `seq` is the order events happened in (commit order within an account is
-- the order of the changes, which lock the rows they change).
CREATE TABLE webhook_events (
    id          uuid PRIMARY KEY,
    seq         bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    kind        text NOT NULL,
    account_id  bigint REFERENCES accounts (id) ON DELETE CASCADE,
    payload     jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX webhook_events_created_idx ON webhook_events (created_at);

CREATE TABLE webhook_deliveries (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id       bigint NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id          uuid NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    -- Ordering: an endpoint receives the events of one account (order_key; 0 for events
    -- of no account) one at a time, by event_seq.
    event_seq         bigint NOT NULL,
    order_key         bigint NOT NULL,
    state             text NOT NULL DEFAULT 'pending'
                      CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts          integer NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    lease_owner       text,
    lease_expires_at  timestamptz,
    last_status       integer,       -- the receiver's HTTP status; NULL: no answer
    last_error        text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    delivered_at      timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (endpoint_id, event_id)
);

-- The sender's claim reads the pending rows by endpoint, account and order.
CREATE INDEX webhook_deliveries_pending_idx ON webhook_deliveries (endpoint_id, order_key, event_seq)
    WHERE state = 'pending';
-- The admin API lists an endpoint's deliveries newest first.
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, id);
CREATE INDEX webhook_deliveries_event_idx ON webhook_deliveries (event_id);
-- Retention purges delivered and failed rows by age.
CREATE INDEX webhook_deliveries_finished_idx ON webhook_deliveries (updated_at)
    WHERE state <> 'pending';
