-- Queue gauges (core/metrics/queue_gauges.cpp) count the recipients that still need work
-- at every scrape: this index keeps that proportional to the queue, not to the history.
CREATE INDEX recipients_unfinished_idx ON recipients (state, message_id)
    WHERE state IN ('queued', 'in_flight', 'deferred', 'held');
