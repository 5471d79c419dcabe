-- Conversations and their messages. A ticket is one thread between a customer and a
-- channel: the DIRECT one, or one COMMENT ticket per commented media (thread_key). The
-- unique key on (channel, customer, kind, thread_key) makes find-or-create idempotent;
-- a resolved ticket is reopened rather than duplicated.
CREATE TABLE tickets (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    channel_id uuid NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    customer_id uuid NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    kind text NOT NULL CHECK (kind IN ('DIRECT', 'COMMENT')),
    thread_key text NOT NULL DEFAULT '',
    status text NOT NULL DEFAULT 'OPEN' CHECK (status IN ('OPEN', 'PENDING', 'RESOLVED', 'SNOOZED')),
    priority text NOT NULL DEFAULT 'MEDIUM' CHECK (priority IN ('LOW', 'MEDIUM', 'HIGH', 'URGENT')),
    assignee_id uuid REFERENCES users (id) ON DELETE SET NULL,
    last_message_id uuid,
    last_message_at timestamptz NOT NULL DEFAULT now(),
    last_message_preview text,
    -- Last time the customer wrote: opens the platforms' 24 h messaging window.
    last_inbound_at timestamptz,
    -- Inbound messages ever received; an agent's unread count is this minus what they read.
    inbound_count bigint NOT NULL DEFAULT 0 CHECK (inbound_count >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'DIRECT' AND thread_key = '') OR (kind = 'COMMENT' AND thread_key <> '')),
    UNIQUE (channel_id, customer_id, kind, thread_key)
);
-- The inbox list: an org's tickets by last activity, optionally by status / assignee / channel.
CREATE INDEX tickets_org_activity_idx ON tickets (org_id, last_message_at DESC, id DESC);
CREATE INDEX tickets_org_status_activity_idx ON tickets (org_id, status, last_message_at DESC, id DESC);
CREATE INDEX tickets_org_assignee_activity_idx ON tickets (org_id, assignee_id, last_message_at DESC, id DESC);
CREATE INDEX tickets_org_channel_activity_idx ON tickets (org_id, channel_id, last_message_at DESC, id DESC);
CREATE INDEX tickets_customer_idx ON tickets (customer_id, last_message_at DESC, id DESC);

CREATE TABLE messages (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    ticket_id uuid NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    channel_id uuid NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    direction text NOT NULL CHECK (direction IN ('INBOUND', 'OUTBOUND')),
    kind text NOT NULL CHECK (kind IN ('TEXT', 'MEDIA', 'STORY_REPLY', 'STORY_MENTION', 'COMMENT',
        'POSTBACK', 'INTERACTIVE', 'LOCATION', 'CONTACTS', 'UNSUPPORTED')),
    author_type text NOT NULL CHECK (author_type IN ('CUSTOMER', 'USER', 'BUSINESS')),
    author_user_id uuid REFERENCES users (id) ON DELETE SET NULL,
    author_customer_id uuid REFERENCES customers (id) ON DELETE SET NULL,
    text text,
    -- mid / wamid / comment id; the idempotency key of every ingest and echo match.
    external_id text CHECK (external_id <> ''),
    reply_to_message_id uuid REFERENCES messages (id) ON DELETE SET NULL,
    reply_to_external_id text,
    context jsonb NOT NULL DEFAULT '{}'::jsonb,
    status text NOT NULL CHECK (status IN ('RECEIVED', 'QUEUED', 'SENT', 'DELIVERED', 'READ', 'FAILED')),
    error_code integer,
    error_message text,
    is_deleted boolean NOT NULL DEFAULT false,
    is_private_note boolean NOT NULL DEFAULT false,
    edited_at timestamptz,
    -- When the customer or agent sent it (Meta's event time): the conversation order.
    sent_at timestamptz NOT NULL,
    -- Agent-supplied idempotency key of sendMessage.
    client_key text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (channel_id, external_id),
    UNIQUE (ticket_id, client_key),
    CHECK ((direction = 'INBOUND') = (status = 'RECEIVED')),
    CHECK (NOT is_private_note OR (direction = 'OUTBOUND' AND external_id IS NULL))
);
CREATE INDEX messages_ticket_order_idx ON messages (ticket_id, sent_at, id);
CREATE INDEX messages_org_idx ON messages (org_id);

ALTER TABLE tickets ADD CONSTRAINT tickets_last_message_fk
    FOREIGN KEY (last_message_id) REFERENCES messages (id) ON DELETE SET NULL;

CREATE TABLE attachments (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    message_id uuid NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    position smallint NOT NULL CHECK (position >= 0),
    type text NOT NULL CHECK (type IN ('IMAGE', 'VIDEO', 'AUDIO', 'FILE', 'SHARE', 'STORY_MENTION',
        'REEL', 'STICKER', 'UNKNOWN')),
    raw_type text NOT NULL DEFAULT '',
    url text,
    mime_type text,
    media_id text,
    title text,
    sha256 text,
    UNIQUE (message_id, position)
);
CREATE INDEX attachments_org_idx ON attachments (org_id);

-- One reaction per reactor and message; removals are kept (removed = true) so that an
-- older "react" delivered late cannot resurrect a reaction.
CREATE TABLE reactions (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    message_id uuid NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    reactor_type text NOT NULL CHECK (reactor_type IN ('CUSTOMER', 'USER')),
    reactor_id text NOT NULL,
    emoji text,
    reaction text,
    removed boolean NOT NULL DEFAULT false,
    reacted_at timestamptz NOT NULL,
    UNIQUE (message_id, reactor_type, reactor_id)
);
CREATE INDEX reactions_org_idx ON reactions (org_id);

CREATE TABLE ticket_reads (
    org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    ticket_id uuid NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    read_inbound_count bigint NOT NULL CHECK (read_inbound_count >= 0),
    last_read_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (ticket_id, user_id)
);
CREATE INDEX ticket_reads_org_user_idx ON ticket_reads (org_id, user_id);
