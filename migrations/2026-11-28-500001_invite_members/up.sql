-- Members join by invitation: an ADMIN invites an email, the invitee accepts with the
-- link (an existing account signed in, or a new one created through it). Only the
-- SHA-256 of the link's token is kept with the invitation; the mail to send sits in an
-- outbox with the link sealed, for a mailer to deliver.
CREATE TABLE invitations (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    email text NOT NULL,
    role text NOT NULL,
    token_hash bytea NOT NULL UNIQUE,
    invited_by uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    accepted_at timestamptz,
    revoked_at timestamptz
);
CREATE INDEX invitations_by_org ON invitations (org_id, created_at DESC);

CREATE TABLE mail_outbox (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    to_email text NOT NULL,
    template text NOT NULL,
    link_enc bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz
);
CREATE INDEX mail_outbox_unsent ON mail_outbox (created_at) WHERE sent_at IS NULL;
