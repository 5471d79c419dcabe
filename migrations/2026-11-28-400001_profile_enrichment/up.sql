-- Customer profiles fetched from Meta (Instagram / Messenger User Profile APIs).
-- Who set a customer's name: the platform (kept current) or an agent (never overwritten).
ALTER TABLE customers
    ADD COLUMN name_source text NOT NULL DEFAULT 'PLATFORM' CHECK (name_source IN ('PLATFORM', 'AGENT'));

-- What the profile API said about an identity.
ALTER TABLE customer_identities
    ADD COLUMN profile_pic_url text,
    ADD COLUMN is_verified boolean,
    ADD COLUMN follower_count bigint,
    ADD COLUMN profile_fetched_at timestamptz;

-- One profile job per identity: PENDING while a fetch is due (run_at), DONE after a fetch
-- (a later message makes it PENDING again, due a day after the fetch), STOPPED when Meta
-- refused for lack of permission (never asked again for that customer).
CREATE TABLE profile_jobs (
    id bigserial PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    identity_id uuid NOT NULL UNIQUE REFERENCES customer_identities (id) ON DELETE CASCADE,
    channel_id uuid NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    state text NOT NULL DEFAULT 'PENDING' CHECK (state IN ('PENDING', 'DONE', 'STOPPED')),
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    run_at timestamptz NOT NULL DEFAULT now(),
    locked_until timestamptz,
    last_error text,
    fetched_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX profile_jobs_claim_idx ON profile_jobs (run_at, id) WHERE state = 'PENDING';
CREATE TRIGGER profile_jobs_notify AFTER INSERT ON profile_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION notify_job_queue();
