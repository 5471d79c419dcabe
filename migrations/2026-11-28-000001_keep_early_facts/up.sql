-- Meta delivers events in no particular order: an unsend, edit, reaction, read or
-- status can arrive before the message it names, and the business's reply to a comment
-- before the comment. Such facts wait in pending_facts,
-- keyed by the channel and the platform id they name (for reactions also the reactor),
-- keeping only the fact that wins (highest rank, then latest occurrence), and are
-- applied in the transaction that stores the message. They replace the status-only
-- message_status_hints. Tickets remember how far the customer has read (so outbound
-- messages that arrive later are marked read too), and identities remember when each
-- profile field was last reported (so the newest name wins whatever the arrival order).
CREATE TABLE pending_facts (
    channel_id uuid NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    external_id text NOT NULL CHECK (external_id <> ''),
    kind text NOT NULL CHECK (kind IN ('UNSEND', 'EDIT', 'REACTION', 'READ', 'WATERMARK', 'STATUS', 'REPLY')),
    reactor_id text NOT NULL DEFAULT '',
    rank integer NOT NULL DEFAULT 0,
    occurred_at timestamptz NOT NULL,
    payload jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (channel_id, external_id, kind, reactor_id)
);
CREATE INDEX pending_facts_received_idx ON pending_facts (received_at);

INSERT INTO pending_facts (channel_id, external_id, kind, rank, occurred_at, payload, received_at)
SELECT channel_id, external_id, 'STATUS',
       CASE status WHEN 'SENT' THEN 1 WHEN 'FAILED' THEN 2 WHEN 'DELIVERED' THEN 3 ELSE 4 END,
       received_at,
       jsonb_build_object('status', status, 'error_code', error_code, 'error_message', error_message),
       received_at
FROM message_status_hints;
DROP TABLE message_status_hints;

ALTER TABLE tickets ADD COLUMN customer_read_at timestamptz;
ALTER TABLE customer_identities ADD COLUMN username_seen_at timestamptz;
ALTER TABLE customer_identities ADD COLUMN display_name_seen_at timestamptz;

-- A reply that arrives before the message it answers is linked when that message comes.
CREATE INDEX messages_unresolved_reply_idx ON messages (channel_id, reply_to_external_id)
    WHERE reply_to_message_id IS NULL AND reply_to_external_id IS NOT NULL;
