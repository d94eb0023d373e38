-- Why a delivery attempt failed (docs/delivery.md "Failure categories"): stored with the
-- attempt's events, NULL for delivered attempts and for every other kind of event.
-- NOT VALID: the rows already there are all NULL, and checking them would hold the lock on
-- a large events table for a whole scan; the check applies to every row written from now.
ALTER TABLE events ADD COLUMN category text;
ALTER TABLE events
    ADD CONSTRAINT events_category_check CHECK (category ~ '^[a-z_]{1,32}$') NOT VALID;
