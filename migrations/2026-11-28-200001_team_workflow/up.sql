-- The team's daily workflow (issue 14): labels on tickets and customers, snoozing and
-- response times on tickets, blocked customers, canned responses, and MENTION
-- notifications. Every inbox filter has an index that leads with the org.
CREATE TABLE labels (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 50),
    colour text NOT NULL CHECK (colour ~ '^#[0-9a-f]{6}$'),
    description text CHECK (length(description) <= 500),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX labels_org_name_key ON labels (org_id, lower(name));

CREATE TABLE ticket_labels (
    org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    ticket_id uuid NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    label_id uuid NOT NULL REFERENCES labels (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (ticket_id, label_id)
);
-- The label filter: the org's tickets carrying a label.
CREATE INDEX ticket_labels_org_label_idx ON ticket_labels (org_id, label_id, ticket_id);
CREATE INDEX ticket_labels_label_idx ON ticket_labels (label_id);

CREATE TABLE customer_labels (
    org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    customer_id uuid NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    label_id uuid NOT NULL REFERENCES labels (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, label_id)
);
CREATE INDEX customer_labels_org_label_idx ON customer_labels (org_id, label_id, customer_id);
CREATE INDEX customer_labels_label_idx ON customer_labels (label_id);

-- Lifecycle. waiting_since: the oldest customer message after the business's latest
-- reply (last_response_at); both are functions of the set of messages, so ingest stays
-- order-independent.
ALTER TABLE tickets ADD COLUMN snoozed_until timestamptz;
ALTER TABLE tickets ADD COLUMN waiting_since timestamptz;
ALTER TABLE tickets ADD COLUMN last_response_at timestamptz;
ALTER TABLE tickets ADD COLUMN first_response_at timestamptz;
ALTER TABLE tickets ADD COLUMN resolved_at timestamptz;
UPDATE tickets SET snoozed_until = now() WHERE status = 'SNOOZED';
ALTER TABLE tickets ADD CONSTRAINT tickets_snooze_check
    CHECK ((status = 'SNOOZED') = (snoozed_until IS NOT NULL));
UPDATE tickets t SET last_response_at = r.last, first_response_at = r.first
FROM (SELECT ticket_id, max(sent_at) AS last, min(sent_at) AS first FROM messages
      WHERE direction = 'OUTBOUND' AND NOT is_private_note GROUP BY ticket_id) r
WHERE r.ticket_id = t.id;
UPDATE tickets t SET waiting_since = (
    SELECT min(m.sent_at) FROM messages m WHERE m.ticket_id = t.id AND m.direction = 'INBOUND'
    AND m.sent_at > coalesce(t.last_response_at, '-infinity'));
UPDATE tickets SET resolved_at = updated_at WHERE status = 'RESOLVED';
CREATE INDEX tickets_org_waiting_idx ON tickets (org_id, waiting_since, id);
CREATE INDEX tickets_org_status_waiting_idx ON tickets (org_id, status, waiting_since, id);
CREATE INDEX tickets_org_assignee_waiting_idx ON tickets (org_id, assignee_id, waiting_since, id);
-- The snooze job finds due tickets with this.
CREATE INDEX tickets_snooze_due_idx ON tickets (snoozed_until) WHERE status = 'SNOOZED';

ALTER TABLE customers ADD COLUMN blocked_at timestamptz;
ALTER TABLE customers ADD COLUMN blocked_by uuid REFERENCES users (id) ON DELETE SET NULL;
CREATE INDEX customers_org_blocked_idx ON customers (org_id, created_at DESC, id DESC)
    WHERE blocked_at IS NOT NULL;

CREATE TABLE canned_responses (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    -- NULL: org-wide; else only this member sees and uses it.
    owner_id uuid REFERENCES users (id) ON DELETE CASCADE,
    short_code text NOT NULL CHECK (short_code ~ '^[a-z0-9_-]{1,32}$'),
    body text NOT NULL CHECK (length(body) BETWEEN 1 AND 4096),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX canned_responses_org_code_key ON canned_responses (org_id, short_code)
    WHERE owner_id IS NULL;
CREATE UNIQUE INDEX canned_responses_owner_code_key ON canned_responses (org_id, owner_id, short_code)
    WHERE owner_id IS NOT NULL;

ALTER TABLE notifications DROP CONSTRAINT notifications_type_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_type_check
    CHECK (type IN ('NEW_MESSAGE', 'NEW_COMMENT', 'ASSIGNED', 'MENTION'));
