-- Admin API audit log (admin-api/audit.cpp): every change made through the API, with the
-- name of the token that made it. Written in the same statement as the change itself.

CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_name  text NOT NULL,  -- a name, not a reference: the log outlives deleted tokens
    method      text NOT NULL,
    path        text NOT NULL,
    status      integer NOT NULL,
    detail      jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_created_idx ON audit_log (created_at);
