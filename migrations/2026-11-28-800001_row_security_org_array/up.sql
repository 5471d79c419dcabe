-- Row-level security without a query per statement.
--
-- The first policies asked `org_id IN (SELECT app_viewer_orgs())`: a SECURITY DEFINER SQL
-- function, which PostgreSQL cannot inline, so every statement planned and ran a lookup of
-- `memberships` (measured: 2.1-2.3x the cost of the inbox's and a conversation's queries at
-- one client). Now the checkout computes the viewer's orgs once, into the setting
-- `delightchat.org_ids` (see src/db/scope.rs), and the policies compare against it. Each
-- setting is read by an uncorrelated sub-select, so PostgreSQL evaluates it once per
-- statement (an InitPlan), not once per row (`= ANY ((SELECT ...)::uuid[])`: the cast makes
-- it an array expression rather than `= ANY (subquery)`).

-- The orgs of `user_id`, as an array literal for `delightchat.org_ids` ('{}' for none).
-- SECURITY DEFINER: the checkout reads `memberships` before its own scope is set. PL/pgSQL
-- rather than SQL: it keeps its plan for the session, where a SQL function that cannot be
-- inlined (SECURITY DEFINER) is planned again on every call.
CREATE FUNCTION app_orgs_of(user_id uuid) RETURNS text
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
    AS $$
    BEGIN
        RETURN (SELECT coalesce(array_agg(m.org_id)::text, '{}') FROM memberships m
                WHERE m.user_id = app_orgs_of.user_id);
    END
    $$;
REVOKE ALL ON FUNCTION app_orgs_of(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app_orgs_of(uuid) TO delightchat_app;

-- The viewer's orgs: empty unless the checkout's scope is a viewer.
CREATE FUNCTION app_viewer_org_ids() RETURNS uuid[]
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
        SELECT CASE WHEN current_setting('delightchat.scope', true) = 'viewer'
                    THEN coalesce(nullif(current_setting('delightchat.org_ids', true), ''),
                                  '{}')::uuid[]
                    ELSE '{}'::uuid[] END
    $$;

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
            'USING ((SELECT app_is_system()) OR org_id = ANY ((SELECT app_viewer_org_ids())::uuid[]))',
            t);
    END LOOP;
END
$$;

DROP POLICY tenant ON orgs;
CREATE POLICY tenant ON orgs TO delightchat_app
    USING ((SELECT app_is_system()) OR id = ANY ((SELECT app_viewer_org_ids())::uuid[]));

DROP POLICY tenant ON users;
CREATE POLICY tenant ON users TO delightchat_app
    USING ((SELECT app_is_system()) OR id = (SELECT app_viewer())
           OR id IN (SELECT m.user_id FROM memberships m
                     WHERE m.org_id = ANY ((SELECT app_viewer_org_ids())::uuid[])));

DROP POLICY tenant ON user_presence;
CREATE POLICY tenant ON user_presence TO delightchat_app
    USING ((SELECT app_is_system()) OR user_id = (SELECT app_viewer())
           OR user_id IN (SELECT m.user_id FROM memberships m
                          WHERE m.org_id = ANY ((SELECT app_viewer_org_ids())::uuid[])));

DROP POLICY tenant ON refresh_tokens;
CREATE POLICY tenant ON refresh_tokens TO delightchat_app
    USING ((SELECT app_is_system()) OR user_id = (SELECT app_viewer()));

DROP POLICY system_only ON webhook_events;
CREATE POLICY system_only ON webhook_events TO delightchat_app USING ((SELECT app_is_system()));
DROP POLICY system_only ON pending_facts;
CREATE POLICY system_only ON pending_facts TO delightchat_app USING ((SELECT app_is_system()));
DROP POLICY system_only ON login_throttles;
CREATE POLICY system_only ON login_throttles TO delightchat_app
    USING ((SELECT app_is_system()));

DROP FUNCTION app_viewer_orgs();
