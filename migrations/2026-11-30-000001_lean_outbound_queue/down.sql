ALTER TABLE outbound_jobs RESET (fillfactor);
CREATE INDEX outbound_jobs_org_idx ON outbound_jobs (org_id);
DELETE FROM outbound_jobs j WHERE NOT EXISTS (SELECT 1 FROM orgs o WHERE o.id = j.org_id)
    OR NOT EXISTS (SELECT 1 FROM channels c WHERE c.id = j.channel_id);
ALTER TABLE outbound_jobs ADD CONSTRAINT outbound_jobs_org_id_fkey
    FOREIGN KEY (org_id) REFERENCES orgs (id) ON DELETE CASCADE;
ALTER TABLE outbound_jobs ADD CONSTRAINT outbound_jobs_channel_id_fkey
    FOREIGN KEY (channel_id) REFERENCES channels (id) ON DELETE CASCADE;
