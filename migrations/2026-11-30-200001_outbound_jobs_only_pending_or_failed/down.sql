ALTER TABLE outbound_jobs DROP CONSTRAINT outbound_jobs_state_check,
    ADD CONSTRAINT outbound_jobs_state_check CHECK (state IN ('PENDING', 'DONE', 'FAILED'));
