-- Outbound sending. A lease id ties a job to the one attempt that claimed it; an
-- uncertain attempt (Meta may have accepted it) is reconciled with echoes before any
-- resend; statuses Meta reports before we recorded a message's id wait as hints; and
-- channels say whether they may use the HUMAN_AGENT tag (7-day window).
ALTER TABLE outbound_jobs ADD COLUMN lease_id uuid;
ALTER TABLE outbound_jobs ADD COLUMN uncertain_since timestamptz;
ALTER TABLE channels ADD COLUMN human_agent_enabled boolean NOT NULL DEFAULT false;

CREATE TABLE message_status_hints (
    channel_id uuid NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    external_id text NOT NULL,
    status text NOT NULL CHECK (status IN ('SENT', 'DELIVERED', 'READ', 'FAILED')),
    error_code integer,
    error_message text,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (channel_id, external_id)
);
CREATE INDEX message_status_hints_received_idx ON message_status_hints (received_at);
