ALTER TABLE channels DROP COLUMN default_team_id;
DROP INDEX tickets_assignee_open_idx;
DROP INDEX tickets_team_waiting_idx;
ALTER TABLE tickets DROP COLUMN team_id;
DROP TABLE team_members;
DROP TABLE teams;
DROP TABLE user_presence;
ALTER TABLE memberships DROP COLUMN availability_changed_at, DROP COLUMN availability;
