-- What a viewer's checkout learns in its one scoping statement: the orgs the user is a
-- member of (for row-level security), their role in each (same order), and whether the
-- session they came with was ended. GraphQL requests check membership against this
-- instead of querying `memberships` and `refresh_tokens` again.
CREATE OR REPLACE FUNCTION app_access_of(user_id uuid, session_id uuid,
                              OUT org_ids text, OUT roles text, OUT session_ended boolean)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
    AS $$
    BEGIN
        SELECT coalesce(array_agg(m.org_id ORDER BY m.org_id)::text, '{}'),
               coalesce(array_agg(m.role ORDER BY m.org_id)::text, '{}')
          INTO org_ids, roles
          FROM memberships m
         WHERE m.user_id = app_access_of.user_id;
        session_ended := app_access_of.session_id IS NOT NULL AND EXISTS (
            SELECT 1 FROM refresh_tokens r
             WHERE r.family_id = app_access_of.session_id AND r.revoked_at IS NOT NULL);
    END
    $$;
