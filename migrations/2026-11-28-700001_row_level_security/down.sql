DO $$
DECLARE
    t text;
BEGIN
    FOR t IN SELECT tablename FROM pg_policies WHERE schemaname = 'public' LOOP
        EXECUTE format('DROP POLICY IF EXISTS tenant ON %I', t);
        EXECUTE format('DROP POLICY IF EXISTS system_only ON %I', t);
        EXECUTE format('ALTER TABLE %I DISABLE ROW LEVEL SECURITY', t);
    END LOOP;
END
$$;
DROP FUNCTION app_viewer_orgs();
DROP FUNCTION app_viewer();
DROP FUNCTION app_is_system();
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE USAGE, SELECT ON SEQUENCES FROM delightchat_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM delightchat_app;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM delightchat_app;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM delightchat_app;
REVOKE USAGE ON SCHEMA public FROM delightchat_app;
-- The role is shared by the cluster's databases and stays.
