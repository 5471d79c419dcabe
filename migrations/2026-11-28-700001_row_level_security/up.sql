-- Row-level security: a second wall behind the application's own `org_id` filters.
--
-- The server's pooled connections switch to the role `delightchat_app` (`SET ROLE`), which
-- owns nothing and bypasses nothing, so every policy below applies to them. The tables stay
-- owned by the role that runs migrations. Each checkout states whose rows it may see, in
-- two settings (see src/db/scope.rs):
--   delightchat.scope   = 'viewer' | 'system' | '' (nothing)
--   delightchat.user_id = the signed-in user, for 'viewer'
-- A viewer sees the rows of the orgs they are a member of; 'system' (webhook processing,
-- workers, sign-in) sees everything; a connection with neither setting sees no row.

-- The role is cluster-wide: several databases (tests run in parallel) may create it at once.
-- Creating it needs CREATEROLE; where the migrating role has none, an administrator creates
-- it first (`CREATE ROLE delightchat_app NOLOGIN; GRANT delightchat_app TO <migrating role>`).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'delightchat_app') THEN
        CREATE ROLE delightchat_app NOLOGIN NOSUPERUSER NOBYPASSRLS;
    END IF;
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

-- The migrating role must be able to `SET ROLE delightchat_app` (superusers always can).
DO $$
BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
       AND NOT pg_has_role(current_user, 'delightchat_app', 'MEMBER') THEN
        EXECUTE format('GRANT delightchat_app TO %I', current_user);
    END IF;
EXCEPTION
    WHEN unique_violation THEN NULL;
END
$$;

GRANT USAGE ON SCHEMA public TO delightchat_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO delightchat_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO delightchat_app;
REVOKE ALL ON __diesel_schema_migrations FROM delightchat_app;
-- Tables of later migrations get the same grants (their policies are checked by a test).
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO delightchat_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO delightchat_app;

-- The checkout's scope, read by the policies.
CREATE FUNCTION app_is_system() RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT coalesce(current_setting('delightchat.scope', true), '') = 'system' $$;

CREATE FUNCTION app_viewer() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
        SELECT CASE WHEN current_setting('delightchat.scope', true) = 'viewer'
                    THEN nullif(current_setting('delightchat.user_id', true), '')::uuid END
    $$;

-- The viewer's orgs. SECURITY DEFINER: it reads `memberships` as the table owner, so the
-- policy of `memberships` can use it without recursing into itself.
CREATE FUNCTION app_viewer_orgs() RETURNS SETOF uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
    AS $$ SELECT org_id FROM memberships WHERE user_id = app_viewer() $$;
REVOKE ALL ON FUNCTION app_viewer_orgs() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app_viewer_orgs() TO delightchat_app;

-- Every table with an org: the viewer's orgs, or system.
DO $$
DECLARE
    t text;
BEGIN
    FOR t IN
        SELECT c.table_name FROM information_schema.columns c
        JOIN information_schema.tables tb
          ON tb.table_schema = c.table_schema AND tb.table_name = c.table_name
        WHERE c.table_schema = 'public' AND c.column_name = 'org_id'
          AND tb.table_type = 'BASE TABLE'
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant ON %I TO delightchat_app '
            'USING (app_is_system() OR org_id IN (SELECT app_viewer_orgs()))', t);
    END LOOP;
END
$$;

ALTER TABLE orgs ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON orgs TO delightchat_app
    USING (app_is_system() OR id IN (SELECT app_viewer_orgs()));

-- People: yourself and the members of your orgs (`memberships` is itself filtered).
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON users TO delightchat_app
    USING (app_is_system() OR id = app_viewer() OR id IN (SELECT user_id FROM memberships));

ALTER TABLE user_presence ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON user_presence TO delightchat_app
    USING (app_is_system() OR user_id = app_viewer()
           OR user_id IN (SELECT user_id FROM memberships));

-- Sessions: your own.
ALTER TABLE refresh_tokens ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON refresh_tokens TO delightchat_app
    USING (app_is_system() OR user_id = app_viewer());

-- Only the system: raw deliveries, facts waiting for their message, sign-in throttles.
ALTER TABLE webhook_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY system_only ON webhook_events TO delightchat_app USING (app_is_system());
ALTER TABLE pending_facts ENABLE ROW LEVEL SECURITY;
CREATE POLICY system_only ON pending_facts TO delightchat_app USING (app_is_system());
ALTER TABLE login_throttles ENABLE ROW LEVEL SECURITY;
CREATE POLICY system_only ON login_throttles TO delightchat_app USING (app_is_system());
