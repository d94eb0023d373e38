-- A bulk cancel may bounce (docs/admin-api.md "Queue actions"): the senders of the
-- recipients it cancels get a delivery report, as if delivery had failed.
ALTER TABLE queue_jobs
    ADD COLUMN bounce boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT queue_jobs_bounce_is_cancel CHECK (NOT bounce OR action = 'cancel');

-- The recipients a bouncing cancel has cancelled and not reported yet. Each batch notes
-- them in its own transaction; the job's reports clear them in theirs, so a job taken over
-- after a crash sends exactly the reports that are missing.
CREATE TABLE queue_job_reports (
    job_id        bigint NOT NULL REFERENCES queue_jobs (id) ON DELETE CASCADE,
    recipient_id  bigint NOT NULL REFERENCES recipients (id) ON DELETE CASCADE,
    PRIMARY KEY (job_id, recipient_id)
);
-- Retention deletes recipients: their notes go with them through this index.
CREATE INDEX queue_job_reports_recipient_idx ON queue_job_reports (recipient_id);
