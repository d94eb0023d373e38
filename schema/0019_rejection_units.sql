-- The credential and sub-user a refused message was sent as, so that the anomaly rule
-- scan_rejects (docs/abuse.md "Anomaly rules") can count rspamd's refusals per unit like
-- the messages it held. Set for content_scan refusals; NULL for the other reasons and for
-- refusals from before this migration (they count for the account only). A credential's
-- deletion keeps its refusals as the account's.
ALTER TABLE rejections
    ADD COLUMN credential_id  bigint REFERENCES credentials (id) ON DELETE SET NULL,
    ADD COLUMN sub_user       text CHECK (length(sub_user) BETWEEN 1 AND 128);
-- Deleting a credential finds its refusals here instead of reading a table that a flood
-- of refused connections can make large; only the refusals with a credential are in it.
CREATE INDEX rejections_credential_idx ON rejections (credential_id)
    WHERE credential_id IS NOT NULL;
