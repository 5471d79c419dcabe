DROP TABLE message_status_hints;
ALTER TABLE channels DROP COLUMN human_agent_enabled;
ALTER TABLE outbound_jobs DROP COLUMN uncertain_since;
ALTER TABLE outbound_jobs DROP COLUMN lease_id;
