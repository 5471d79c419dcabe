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

DROP FUNCTION app_access_of(uuid, uuid);
