-- Delivery reports (docs/delivery.md "Bounces" and "Delay warnings").
-- delay_warned: the recipient's delay warning is done (sent when its NOTIFY asked for
-- one), set in the transaction that records the attempt whose report warned, so each
-- recipient gets at most one however often it is retried.
-- pending_report: the report line ({action, status, remote_mta, diagnostic}) of a
-- recipient of a message whose other recipients are still being tried in other domain
-- batches; the last batch (or the delivery role's sweep) sends one report for them all
-- and clears it in the same transaction. Constant defaults: no table rewrite.
ALTER TABLE recipients ADD COLUMN delay_warned boolean NOT NULL DEFAULT false;
ALTER TABLE recipients ADD COLUMN pending_report jsonb;
CREATE INDEX recipients_pending_report_idx ON recipients (message_id)
    WHERE pending_report IS NOT NULL;
