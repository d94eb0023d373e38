-- Delivery claims and purge (relay/queue/claims.cpp).

-- Purge looks for stored bodies older than the retention; once deleted, a message
-- leaves this index, so the purge scan stays proportional to what is still kept.
CREATE INDEX messages_body_kept_idx ON messages (received_at) WHERE body IS NOT NULL;

-- release(owner) at shutdown and lease checks find a worker's recipients directly.
CREATE INDEX recipients_lease_owner_idx ON recipients (lease_owner) WHERE state = 'in_flight';
