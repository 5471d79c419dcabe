DROP TABLE media_jobs;
ALTER TABLE orgs DROP COLUMN media_bytes;
ALTER TABLE attachments DROP COLUMN media_object_id, DROP COLUMN storage_error, DROP COLUMN storage;
DROP TABLE media_objects;
