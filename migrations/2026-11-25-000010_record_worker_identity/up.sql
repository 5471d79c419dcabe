-- Which worker process (host:pid) last handled a delivery or a send: operators can
-- tell which instance parked something, and tests can check that work is shared.
ALTER TABLE webhook_events ADD COLUMN processed_by text;
ALTER TABLE outbound_jobs ADD COLUMN processed_by text;
