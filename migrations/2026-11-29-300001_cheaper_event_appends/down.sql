DELETE FROM events e WHERE NOT EXISTS (SELECT 1 FROM orgs o WHERE o.id = e.org_id);
ALTER TABLE events ADD CONSTRAINT events_org_id_fkey
    FOREIGN KEY (org_id) REFERENCES orgs(id) ON DELETE CASCADE;
ALTER TABLE events ALTER COLUMN payload DROP DEFAULT;
ALTER TABLE events ALTER COLUMN payload TYPE jsonb USING payload::jsonb;
ALTER TABLE events ALTER COLUMN payload SET DEFAULT '{}'::jsonb;
