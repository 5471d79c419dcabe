DROP TABLE outbound_jobs;
DROP TABLE webhook_events;
DROP FUNCTION notify_job_queue();
