-- Containment (docs/abuse.md): holds on an account or one of its credentials, and the
-- bulk queue actions that apply them, in batches, to recipients already queued.

-- A hold: while released_at is NULL, no recipient of the unit's messages is delivered.
-- Claims park such recipients as 'held' (recipients.hold_id) when they come due, and a
-- queue job parks the rest at once (relay/queue/holds.hpp).
CREATE TABLE holds (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id     bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- NULL: the whole account; otherwise only mail submitted with this credential.
    credential_id  bigint REFERENCES credentials (id) ON DELETE CASCADE,
    -- Set: only mail of this sub-user (the account's trusted sub-user header).
    sub_user       text CHECK (length(sub_user) BETWEEN 1 AND 255),
    -- Machine-readable: account_suspended, credential_disabled, operator, or rule:<name>.
    reason         text NOT NULL CHECK (reason ~ '^[a-z_]+(:[a-z0-9_.-]+)?$'),
    evidence       jsonb NOT NULL DEFAULT '{}',
    created_by     text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    released_by    text,
    released_at    timestamptz
);
-- One active hold per unit and reason: suspending twice, or a rule tripping again, adds
-- no second hold.
CREATE UNIQUE INDEX holds_active_unit_idx
    ON holds (account_id, coalesce(credential_id, 0), coalesce(sub_user, ''), reason) WHERE released_at IS NULL;
CREATE INDEX holds_account_idx ON holds (account_id, id);

-- The hold that parked a held recipient; NULL for a hold by message or by filter.
ALTER TABLE recipients ADD COLUMN hold_id bigint;
CREATE INDEX recipients_hold_idx ON recipients (hold_id) WHERE state = 'held';

-- A bulk action on the queue (hold, release, cancel, retry by filter), run in batches of
-- their own transactions by any replica that holds the job's lease; the cursor and `phase`
-- say where the next batch starts, so a job taken over after a crash goes on from there.
CREATE TABLE queue_jobs (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    action            text NOT NULL CHECK (action IN ('hold', 'release', 'cancel', 'retry')),
    filter            jsonb NOT NULL,
    hold_id           bigint REFERENCES holds (id) ON DELETE CASCADE,
    state             text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'done', 'failed')),
    phase             integer NOT NULL DEFAULT 0,  -- index into the action's source states
    cursor_message    uuid,                        -- the last recipient a batch reached:
    cursor_recipient  bigint,                      --   its message and its id
    recipients        bigint NOT NULL DEFAULT 0,   -- changed so far
    batches           integer NOT NULL DEFAULT 0,
    error             text,
    created_by        text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz,
    lease_owner       text,
    lease_expires_at  timestamptz
);
CREATE INDEX queue_jobs_running_idx ON queue_jobs (id) WHERE state = 'running';
CREATE INDEX queue_jobs_hold_idx ON queue_jobs (hold_id);
