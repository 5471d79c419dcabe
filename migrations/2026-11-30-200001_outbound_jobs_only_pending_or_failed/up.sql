-- A sent reply's job is deleted (2026-11-30-000001_lean_outbound_queue), so a job is only
-- ever waiting or given up on: the state check says so, and a DONE row is refused.
DELETE FROM outbound_jobs WHERE state = 'DONE';
ALTER TABLE outbound_jobs DROP CONSTRAINT outbound_jobs_state_check,
    ADD CONSTRAINT outbound_jobs_state_check CHECK (state IN ('PENDING', 'FAILED'));
