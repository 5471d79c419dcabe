ALTER TABLE outbound_jobs DROP COLUMN processed_by;
ALTER TABLE webhook_events DROP COLUMN processed_by;
