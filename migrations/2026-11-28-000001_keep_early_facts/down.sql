DROP INDEX messages_unresolved_reply_idx;
ALTER TABLE customer_identities DROP COLUMN display_name_seen_at;
ALTER TABLE customer_identities DROP COLUMN username_seen_at;
ALTER TABLE tickets DROP COLUMN customer_read_at;

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
INSERT INTO message_status_hints (channel_id, external_id, status, error_code, error_message, received_at)
SELECT channel_id, external_id, payload->>'status', (payload->>'error_code')::integer,
       payload->>'error_message', received_at
FROM pending_facts WHERE kind = 'STATUS';
DROP TABLE pending_facts;
