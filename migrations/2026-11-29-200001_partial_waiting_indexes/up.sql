-- The inbox's waiting order lists waiting tickets only (waiting_since IS NOT NULL), so its
-- four indexes hold only those. A ticket answered by an agent (waiting_since cleared) then
-- gets no new entry in them: every reply's summary update writes 11 index entries
-- instead of 15, and the indexes hold the waiting tickets instead of all of them.
DROP INDEX tickets_org_waiting_idx;
DROP INDEX tickets_org_status_waiting_idx;
DROP INDEX tickets_org_assignee_waiting_idx;
DROP INDEX tickets_org_team_waiting_idx;
CREATE INDEX tickets_org_waiting_idx ON tickets (org_id, waiting_since, id)
    WHERE waiting_since IS NOT NULL;
CREATE INDEX tickets_org_status_waiting_idx ON tickets (org_id, status, waiting_since, id)
    WHERE waiting_since IS NOT NULL;
CREATE INDEX tickets_org_assignee_waiting_idx ON tickets (org_id, assignee_id, waiting_since, id)
    WHERE waiting_since IS NOT NULL;
CREATE INDEX tickets_org_team_waiting_idx ON tickets (org_id, team_id, waiting_since, id)
    WHERE waiting_since IS NOT NULL;
