-- WhatsApp message templates, synced from GET /{waba-id}/message_templates.
-- The WhatsApp Business Account a WhatsApp channel's phone number belongs to.
ALTER TABLE channels
    ADD COLUMN business_account_id text CHECK (business_account_id <> '');
CREATE INDEX channels_business_account_idx ON channels (business_account_id)
    WHERE business_account_id IS NOT NULL;

CREATE TABLE whatsapp_templates (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    channel_id uuid NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    -- Meta's template id.
    external_id text,
    name text NOT NULL,
    language text NOT NULL,
    category text NOT NULL,
    status text NOT NULL CHECK (status IN ('APPROVED', 'PENDING', 'REJECTED', 'PAUSED',
        'DISABLED', 'IN_APPEAL', 'PENDING_DELETION', 'DELETED', 'LIMIT_EXCEEDED', 'ARCHIVED',
        'UNKNOWN')),
    -- Meta's reason for a rejection, pause or disabling.
    status_reason text,
    -- Meta's components (HEADER, BODY, FOOTER, BUTTONS) as Meta sent them.
    components jsonb NOT NULL DEFAULT '[]'::jsonb,
    synced_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (channel_id, name, language)
);
CREATE INDEX whatsapp_templates_org_idx ON whatsapp_templates (org_id);
