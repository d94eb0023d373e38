-- Sub-users and per-credential limits (docs/policy.md "Credential limits" and "Sub-users").

-- A credential's own limits, of the kinds of the account's; NULL: no credential limit
-- (the account's limits still hold). Both must have room for a message to pass.
ALTER TABLE credentials
    ADD COLUMN messages_per_minute  integer CHECK (messages_per_minute >= 0),
    ADD COLUMN messages_per_hour    integer CHECK (messages_per_hour >= 0),
    ADD COLUMN messages_per_day     integer CHECK (messages_per_day >= 0),
    ADD COLUMN recipients_per_hour  integer CHECK (recipients_per_hour >= 0),
    ADD COLUMN recipients_per_day   integer CHECK (recipients_per_day >= 0);

-- The trusted sub-user header of an account (NULL: none is trusted), whether it is removed
-- before delivery, the limits each sub-user gets (NULL: none), and how many distinct
-- sub-users may hold quota in one window of a limit (bounds rate_usage rows per account).
ALTER TABLE accounts
    ADD COLUMN sub_user_header               text
        CHECK (sub_user_header ~ '^[!-9;-~]{1,64}$'),
    ADD COLUMN sub_user_header_strip         boolean NOT NULL DEFAULT true,
    ADD COLUMN sub_user_messages_per_minute  integer CHECK (sub_user_messages_per_minute >= 0),
    ADD COLUMN sub_user_messages_per_hour    integer CHECK (sub_user_messages_per_hour >= 0),
    ADD COLUMN sub_user_messages_per_day     integer CHECK (sub_user_messages_per_day >= 0),
    ADD COLUMN sub_user_recipients_per_hour  integer CHECK (sub_user_recipients_per_hour >= 0),
    ADD COLUMN sub_user_recipients_per_day   integer CHECK (sub_user_recipients_per_day >= 0),
    ADD COLUMN max_sub_users                 integer NOT NULL DEFAULT 1000
        CHECK (max_sub_users BETWEEN 1 AND 100000);

-- The sub-user the trusted header named, normalized (relay/policy/sub_user.hpp).
ALTER TABLE messages
    ADD COLUMN sub_user text CHECK (length(sub_user) BETWEEN 1 AND 128);
CREATE INDEX messages_account_sub_user_idx ON messages (account_id, sub_user, received_at)
    WHERE sub_user IS NOT NULL;

-- Quota rows of a credential or a sub-user live beside the account's, under the account
-- (so they go with it): `scope` is '' for the account itself, 'credential:<id>' or
-- 'sub_user:<name>'. The key leads with (account, limit, window) so that counting the
-- sub-users of one window is an index range.
ALTER TABLE rate_usage
    ADD COLUMN scope text NOT NULL DEFAULT '' CHECK (length(scope) <= 160);
ALTER TABLE rate_usage DROP CONSTRAINT rate_usage_pkey;
ALTER TABLE rate_usage ADD PRIMARY KEY (account_id, limit_name, window_start, scope);
