-- The viewer's orgs, roles and whether the session ended, in one statement instead of two
-- (every scoped checkout runs this function).
CREATE OR REPLACE FUNCTION app_access_of(user_id uuid, session_id uuid,
                                         OUT org_ids text, OUT roles text, OUT session_ended boolean)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
    AS $$
    BEGIN
        SELECT coalesce(array_agg(m.org_id ORDER BY m.org_id)::text, '{}'),
               coalesce(array_agg(m.role ORDER BY m.org_id)::text, '{}'),
               app_access_of.session_id IS NOT NULL AND EXISTS (
                   SELECT 1 FROM refresh_tokens r
                    WHERE r.family_id = app_access_of.session_id AND r.revoked_at IS NOT NULL)
          INTO org_ids, roles, session_ended
          FROM memberships m
         WHERE m.user_id = app_access_of.user_id;
    END
    $$;
