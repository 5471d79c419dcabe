-- New jobs are announced by the process that queued them, after its transaction commits
-- (src/jobs/announce.rs): a NOTIFY inside the queuing transaction made PostgreSQL commit
-- every such transaction in single file.
DROP TRIGGER webhook_events_notify ON webhook_events;
DROP TRIGGER outbound_jobs_notify ON outbound_jobs;
DROP TRIGGER media_jobs_notify ON media_jobs;
DROP TRIGGER profile_jobs_notify ON profile_jobs;
DROP FUNCTION notify_job_queue();
