-- Durable work queues. webhook_events holds every signed delivery we answered 200 to;
-- outbound_jobs holds every reply to send through the Graph API. Workers claim rows with
-- FOR UPDATE SKIP LOCKED and a lease (locked_until); a statement-level trigger NOTIFYs
-- idle workers so new work is picked up at once.
CREATE TABLE webhook_events (
    id bigserial PRIMARY KEY,
    -- The channel whose URL received the delivery; NULL for the app-level route.
    channel_id uuid REFERENCES channels (id) ON DELETE SET NULL,
    -- Keyed fingerprint of the app secret that verified the signature (NULL for the
    -- app-level route). Entries are only routed to channels with the same secret.
    secret_fingerprint bytea,
    body bytea NOT NULL,
    state text NOT NULL DEFAULT 'PENDING' CHECK (state IN ('PENDING', 'PROCESSED', 'PARKED')),
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    run_at timestamptz NOT NULL DEFAULT now(),
    locked_until timestamptz,
    last_error text,
    received_at timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz
);
CREATE INDEX webhook_events_claim_idx ON webhook_events (run_at, id) WHERE state = 'PENDING';
CREATE INDEX webhook_events_parked_idx ON webhook_events (received_at) WHERE state = 'PARKED';

CREATE TABLE outbound_jobs (
    id bigserial PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    message_id uuid NOT NULL UNIQUE REFERENCES messages (id) ON DELETE CASCADE,
    channel_id uuid NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    state text NOT NULL DEFAULT 'PENDING' CHECK (state IN ('PENDING', 'DONE', 'FAILED')),
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    run_at timestamptz NOT NULL DEFAULT now(),
    locked_until timestamptz,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbound_jobs_claim_idx ON outbound_jobs (run_at, id) WHERE state = 'PENDING';
CREATE INDEX outbound_jobs_org_idx ON outbound_jobs (org_id);

CREATE FUNCTION notify_job_queue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(TG_TABLE_NAME, '');
    RETURN NULL;
END;
$$;
CREATE TRIGGER webhook_events_notify AFTER INSERT ON webhook_events
    FOR EACH STATEMENT EXECUTE FUNCTION notify_job_queue();
CREATE TRIGGER outbound_jobs_notify AFTER INSERT ON outbound_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION notify_job_queue();
