-- The inbox filtered by team (teamId), in both of its orders.
CREATE INDEX tickets_org_team_activity_idx ON tickets (org_id, team_id, last_message_at DESC, id DESC);
CREATE INDEX tickets_org_team_waiting_idx ON tickets (org_id, team_id, waiting_since, id);
