-- Members and sessions, teams and auto-assignment (issue 14).
--
-- Each member says whether they take work (ONLINE, BUSY, OFFLINE). Each server instance
-- records in user_presence how many WebSockets a user has open on it, refreshed by a
-- heartbeat; a member whose sockets have all been closed (or whose instance stopped
-- heartbeating) for the configured time is set OFFLINE by a sweeper.
ALTER TABLE memberships
    ADD COLUMN availability text NOT NULL DEFAULT 'OFFLINE'
        CHECK (availability IN ('ONLINE', 'BUSY', 'OFFLINE')),
    ADD COLUMN availability_changed_at timestamptz NOT NULL DEFAULT now();

CREATE TABLE user_presence (
    instance_id uuid NOT NULL,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sockets integer NOT NULL CHECK (sockets >= 0),
    -- Orders writes of one instance, so a late write never undoes a newer one.
    version bigint NOT NULL,
    seen_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, instance_id)
);

-- Teams divide an org's inbox. With auto_assign, new and reopened tickets of the team go
-- round-robin to its ONLINE members, each under max_open_tickets (overridable per member).
CREATE TABLE teams (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name text NOT NULL,
    auto_assign boolean NOT NULL DEFAULT false,
    max_open_tickets integer NOT NULL DEFAULT 10 CHECK (max_open_tickets BETWEEN 0 AND 10000),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX teams_org_name_idx ON teams (org_id, lower(name));

CREATE TABLE team_members (
    team_id uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    max_open_tickets integer CHECK (max_open_tickets BETWEEN 0 AND 10000),
    -- Round-robin position: the member assigned longest ago goes next.
    last_assigned_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, user_id),
    FOREIGN KEY (org_id, user_id) REFERENCES memberships (org_id, user_id) ON DELETE CASCADE
);
CREATE INDEX team_members_user_idx ON team_members (org_id, user_id);

ALTER TABLE tickets ADD COLUMN team_id uuid REFERENCES teams (id) ON DELETE SET NULL;
-- Waiting tickets of a team, and each agent's open tickets per team (capacity).
CREATE INDEX tickets_team_waiting_idx ON tickets (team_id, created_at)
    WHERE assignee_id IS NULL AND status = 'OPEN';
CREATE INDEX tickets_assignee_open_idx ON tickets (org_id, assignee_id, team_id)
    WHERE status IN ('OPEN', 'PENDING');

ALTER TABLE channels ADD COLUMN default_team_id uuid REFERENCES teams (id) ON DELETE SET NULL;
