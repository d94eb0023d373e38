-- Registers the admin API token of the Secret adminToken.existingSecret under the name
-- adminToken.name (templates/admin-token-job.yaml; psql 15 from the PostgreSQL image).
-- The same form `smarthost token create` stores: the SHA-256 of the token's bytes, never
-- the token. A name (or token) that exists already is left alone: rotate by revoking the old token
-- through the admin API and installing the new one under a new name.
\set ON_ERROR_STOP on
\getenv token SMARTHOST_ADMIN_TOKEN
\getenv token_name SMARTHOST_ADMIN_TOKEN_NAME
SELECT length(:'token') >= 32 AS token_long_enough \gset
\if :token_long_enough
INSERT INTO api_tokens (name, token_sha256)
VALUES (:'token_name', sha256(convert_to(:'token', 'UTF8')))
ON CONFLICT DO NOTHING;
\else
DO $$ BEGIN RAISE EXCEPTION 'the admin token must be at least 32 characters long'; END $$;
\endif
