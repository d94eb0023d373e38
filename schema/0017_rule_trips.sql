-- Anomaly rules (docs/abuse.md "Anomaly rules"): each time a rule trips for an account, one
-- of its credentials or one of its sub-users, what it saw and what it did. Holds and
-- suspensions it causes are in `holds` (reason 'rule:<rule>', the same evidence).
CREATE TABLE rule_trips (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rule           text NOT NULL CHECK (rule ~ '^[a-z_]+$'),
    account_id     bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    credential_id  bigint REFERENCES credentials (id) ON DELETE CASCADE,
    sub_user       text,
    action         text NOT NULL CHECK (action IN ('alert', 'hold', 'suspend')),
    evidence       jsonb NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
-- A rule trips once per unit and window: the evaluation looks for the last trip.
CREATE INDEX rule_trips_unit_idx ON rule_trips (account_id, rule, created_at);
