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
CREATE TRIGGER media_jobs_notify AFTER INSERT ON media_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION notify_job_queue();
CREATE TRIGGER profile_jobs_notify AFTER INSERT ON profile_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION notify_job_queue();
