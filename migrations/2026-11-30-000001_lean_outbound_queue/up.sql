-- outbound_jobs holds only work: a sent reply's job is deleted (its message keeps the
-- outcome), a given-up one stays FAILED for retryMessage. Before this, every reply ever
-- sent left a DONE row behind.
DELETE FROM outbound_jobs WHERE state = 'DONE';

-- A job's org and channel are its message's, and the message's foreign key removes the
-- job with it; the two per-row checks on every enqueue guarded nothing more, and no query
-- reads jobs by org.
ALTER TABLE outbound_jobs DROP CONSTRAINT outbound_jobs_org_id_fkey;
ALTER TABLE outbound_jobs DROP CONSTRAINT outbound_jobs_channel_id_fkey;
DROP INDEX outbound_jobs_org_idx;

-- Room on each page for the claim's new row version, so a claim (which changes no indexed
-- column) is a heap-only update instead of a new entry in every index.
ALTER TABLE outbound_jobs SET (fillfactor = 50);
