-- Outbound content scanning with rspamd (docs/scanning.md).
--
-- Per account: whether its mail is scanned and the score thresholds of the actions;
-- NULL takes the [scanning] default of the configuration. The thresholds that are set
-- are ordered add_header <= hold <= reject (the API answers 422 before this CHECK does).
ALTER TABLE accounts
    ADD COLUMN scan_enabled          boolean,
    ADD COLUMN scan_add_header_score double precision
        CHECK (scan_add_header_score BETWEEN -1000 AND 1000),
    ADD COLUMN scan_hold_score       double precision
        CHECK (scan_hold_score BETWEEN -1000 AND 1000),
    ADD COLUMN scan_reject_score     double precision
        CHECK (scan_reject_score BETWEEN -1000 AND 1000),
    ADD CONSTRAINT accounts_scan_thresholds_order CHECK (
        (scan_add_header_score IS NULL OR scan_hold_score IS NULL
            OR scan_add_header_score <= scan_hold_score)
        AND (scan_hold_score IS NULL OR scan_reject_score IS NULL
            OR scan_hold_score <= scan_reject_score)
        AND (scan_add_header_score IS NULL OR scan_reject_score IS NULL
            OR scan_add_header_score <= scan_reject_score));

-- Per message: what the scan found, NULL when the message was not scanned (scanning off,
-- over the size bound, or rspamd failed: fail-open). The symbols are rspamd's rule
-- names with their scores, bounded by the relay before storing (at most 64 names).
ALTER TABLE messages
    ADD COLUMN scan_score   double precision,
    ADD COLUMN scan_action  text CHECK (scan_action IN ('accept', 'add_header', 'hold')),
    ADD COLUMN scan_symbols jsonb CHECK (octet_length(scan_symbols::text) <= 8192);
