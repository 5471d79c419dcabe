CREATE FUNCTION app_viewer_orgs() RETURNS SETOF uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
    AS $$ SELECT org_id FROM memberships WHERE user_id = app_viewer() $$;
REVOKE ALL ON FUNCTION app_viewer_orgs() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app_viewer_orgs() TO delightchat_app;

DO $$
DECLARE
    t text;
BEGIN
    FOR t IN SELECT tablename FROM pg_policies
             WHERE schemaname = 'public' AND policyname = 'tenant'
               AND tablename NOT IN ('orgs', 'users', 'user_presence', 'refresh_tokens')
    LOOP
        EXECUTE format('DROP POLICY tenant ON %I', t);
        EXECUTE format(
            'CREATE POLICY tenant ON %I TO delightchat_app '
            'USING (app_is_system() OR org_id IN (SELECT app_viewer_orgs()))', t);
    END LOOP;
END
$$;

DROP POLICY tenant ON orgs;
CREATE POLICY tenant ON orgs TO delightchat_app
    USING (app_is_system() OR id IN (SELECT app_viewer_orgs()));
DROP POLICY tenant ON users;
CREATE POLICY tenant ON users TO delightchat_app
    USING (app_is_system() OR id = app_viewer() OR id IN (SELECT user_id FROM memberships));
DROP POLICY tenant ON user_presence;
CREATE POLICY tenant ON user_presence TO delightchat_app
    USING (app_is_system() OR user_id = app_viewer()
           OR user_id IN (SELECT user_id FROM memberships));
DROP POLICY tenant ON refresh_tokens;
CREATE POLICY tenant ON refresh_tokens TO delightchat_app
    USING (app_is_system() OR user_id = app_viewer());
DROP POLICY system_only ON webhook_events;
CREATE POLICY system_only ON webhook_events TO delightchat_app USING (app_is_system());
DROP POLICY system_only ON pending_facts;
CREATE POLICY system_only ON pending_facts TO delightchat_app USING (app_is_system());
DROP POLICY system_only ON login_throttles;
CREATE POLICY system_only ON login_throttles TO delightchat_app USING (app_is_system());

DROP FUNCTION app_viewer_org_ids();
DROP FUNCTION app_orgs_of(uuid);
