DROP INDEX tickets_org_waiting_idx;
DROP INDEX tickets_org_status_waiting_idx;
DROP INDEX tickets_org_assignee_waiting_idx;
DROP INDEX tickets_org_team_waiting_idx;
CREATE INDEX tickets_org_waiting_idx ON tickets (org_id, waiting_since, id);
CREATE INDEX tickets_org_status_waiting_idx ON tickets (org_id, status, waiting_since, id);
CREATE INDEX tickets_org_assignee_waiting_idx ON tickets (org_id, assignee_id, waiting_since, id);
CREATE INDEX tickets_org_team_waiting_idx ON tickets (org_id, team_id, waiting_since, id);
