-- The transactional outbox behind live updates. seq comes from the per-org counter row,
-- updated in the same transaction as the change: the row lock makes seq order equal
-- commit order, so "everything after seq N" is a safe resume point.
CREATE TABLE org_event_seqs (
    org_id uuid PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
    last_seq bigint NOT NULL DEFAULT 0,
    -- Events up to and including this seq have been pruned.
    pruned_through bigint NOT NULL DEFAULT 0
);

CREATE TABLE events (
    org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    seq bigint NOT NULL,
    kind text NOT NULL,
    ticket_id uuid,
    message_id uuid,
    notification_id uuid,
    -- For notification events: the only user who may see them.
    user_id uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, seq)
);
CREATE INDEX events_created_idx ON events (created_at);
