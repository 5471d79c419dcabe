-- Per-user notifications, coalesced: at most one unread notification per user and
-- ticket, whose count grows with later messages.
CREATE TABLE notifications (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    type text NOT NULL CHECK (type IN ('NEW_MESSAGE', 'NEW_COMMENT', 'ASSIGNED')),
    ticket_id uuid REFERENCES tickets (id) ON DELETE CASCADE,
    message_id uuid REFERENCES messages (id) ON DELETE SET NULL,
    count integer NOT NULL DEFAULT 1 CHECK (count >= 1),
    read_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX notifications_unread_per_ticket_key ON notifications (user_id, ticket_id) WHERE read_at IS NULL;
CREATE INDEX notifications_user_org_idx ON notifications (org_id, user_id, updated_at DESC, id DESC);
CREATE INDEX notifications_unread_idx ON notifications (org_id, user_id) WHERE read_at IS NULL;
