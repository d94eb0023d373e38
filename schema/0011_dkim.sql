-- DKIM signing (docs/dkim.md): keys per sender domain, each sealed with the
-- key-encryption key of the configuration, and the domain's signing policy.

-- off: never sign; verified: sign with the active keys whose published record matches
-- (the default); always: sign with the active keys even before their record is seen.
ALTER TABLE sender_domains
    ADD COLUMN dkim_policy text NOT NULL DEFAULT 'verified'
        CHECK (dkim_policy IN ('off', 'verified', 'always'));

CREATE TABLE dkim_keys (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sender_domain_id    bigint NOT NULL REFERENCES sender_domains (id) ON DELETE CASCADE,
    selector            text NOT NULL CHECK (selector ~ '^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$'
                                             AND length(selector) <= 63),
    algorithm           text NOT NULL CHECK (algorithm IN ('rsa-sha256', 'ed25519-sha256')),
    key_bits            integer NOT NULL,
    public_key          text NOT NULL,  -- the p= of the record to publish (base64)
    -- nonce || XChaCha20-Poly1305(PKCS#8 PEM), associated data "<domain>/<selector>"
    private_key_sealed  bytea NOT NULL,
    imported            boolean NOT NULL DEFAULT false,
    -- created: made, not signing; active: signs; retired: replaced or withdrawn, kept
    -- listed (and published by the customer) until deleted.
    state               text NOT NULL DEFAULT 'created' CHECK (state IN ('created', 'active', 'retired')),
    -- What the last lookup of <selector>._domainkey.<domain> found: unchecked, published
    -- (the record's p= is this key), missing (no record), mismatch (another key or a
    -- revoked one). An inconclusive answer (SERVFAIL, timeout) leaves it as it was.
    dns_status          text NOT NULL DEFAULT 'unchecked'
                        CHECK (dns_status IN ('unchecked', 'published', 'missing', 'mismatch')),
    dns_checked_at      timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    activated_at        timestamptz,
    retired_at          timestamptz,
    UNIQUE (sender_domain_id, selector)
);
-- At most one signing key per algorithm and domain (RSA and Ed25519 may sign together,
-- RFC 8463 dual signing); activation retires the previous one in the same transaction.
CREATE UNIQUE INDEX dkim_keys_one_active_idx ON dkim_keys (sender_domain_id, algorithm)
    WHERE state = 'active';
-- The periodic check of published records, least recently checked first.
CREATE INDEX dkim_keys_checked_idx ON dkim_keys (dns_checked_at NULLS FIRST) WHERE state <> 'retired';
