-- Durable media: our own copies of inbound attachments (downloaded from Meta by a job
-- outside the webhook transaction) and of files agents upload. An attachment that we
-- copy is PENDING until its media job stores it (STORED, with its media object) or
-- gives up (FAILED, with the reason); the message is visible throughout.
CREATE TABLE media_objects (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    storage_key text NOT NULL UNIQUE,
    content_type text NOT NULL,
    byte_size bigint NOT NULL CHECK (byte_size >= 0),
    sha256 text NOT NULL,
    filename text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX media_objects_org_idx ON media_objects (org_id);

ALTER TABLE attachments
    ADD COLUMN storage text CHECK (storage IN ('PENDING', 'STORED', 'FAILED')),
    ADD COLUMN storage_error text,
    ADD COLUMN media_object_id uuid REFERENCES media_objects (id) ON DELETE SET NULL;

-- Bytes of media each org keeps (counted toward its usage and quota).
ALTER TABLE orgs ADD COLUMN media_bytes bigint NOT NULL DEFAULT 0;

CREATE TABLE media_jobs (
    id bigserial PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    attachment_id uuid NOT NULL UNIQUE REFERENCES attachments (id) ON DELETE CASCADE,
    state text NOT NULL DEFAULT 'PENDING' CHECK (state IN ('PENDING', 'DONE', 'FAILED')),
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    run_at timestamptz NOT NULL DEFAULT now(),
    locked_until timestamptz,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX media_jobs_claim_idx ON media_jobs (run_at, id) WHERE state = 'PENDING';
CREATE TRIGGER media_jobs_notify AFTER INSERT ON media_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION notify_job_queue();
