-- People who wrote to an org, and their per-channel identities (IGSID, PSID, wa_id or
-- WhatsApp business-scoped user id). Identities are unique per channel and external id,
-- which is what makes first-contact creation idempotent.
CREATE TABLE customers (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name text,
    avatar_url text,
    notes text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX customers_org_created_idx ON customers (org_id, created_at DESC, id DESC);

CREATE TABLE customer_identities (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    customer_id uuid NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    channel_id uuid NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    platform text NOT NULL CHECK (platform IN ('INSTAGRAM', 'MESSENGER', 'WHATSAPP')),
    external_id text NOT NULL CHECK (external_id <> ''),
    username text,
    display_name text,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (channel_id, external_id)
);
CREATE INDEX customer_identities_customer_idx ON customer_identities (customer_id);
CREATE INDEX customer_identities_org_platform_idx ON customer_identities (org_id, platform);
