-- Live events carry a snapshot of the rows they are about (message, ticket,
-- notification) taken at commit, so fanning one event out to thousands of subscribers
-- costs no database reads.
ALTER TABLE events ADD COLUMN payload jsonb NOT NULL DEFAULT '{}'::jsonb;
