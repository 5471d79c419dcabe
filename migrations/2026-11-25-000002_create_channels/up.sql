-- A connected Meta account (Instagram account, Facebook Page or WhatsApp phone number).
-- Secrets are AES-256-GCM ciphertext bound to the channel id and field name; the app
-- secret fingerprint (a keyed hash) lets webhook routing compare secrets without
-- decrypting them.
CREATE TABLE channels (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    platform text NOT NULL CHECK (platform IN ('INSTAGRAM', 'MESSENGER', 'WHATSAPP')),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    external_account_id text NOT NULL CHECK (external_account_id <> ''),
    access_token_enc bytea NOT NULL,
    access_token_hint text NOT NULL,
    app_secret_enc bytea NOT NULL,
    app_secret_fingerprint bytea NOT NULL,
    verify_token_enc bytea NOT NULL,
    status text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'DISABLED', 'NEEDS_REAUTH')),
    status_reason text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz
);
-- One live channel per Meta account: webhook entries are routed by this key.
CREATE UNIQUE INDEX channels_account_key ON channels (platform, external_account_id) WHERE deleted_at IS NULL;
CREATE INDEX channels_org_idx ON channels (org_id, created_at);
