//! Whose rows a checked-out connection may see: PostgreSQL row-level security, the second
//! wall behind every query's own `org_id` filter.
//!
//! Pooled connections run as the role `delightchat_app` (set when a connection opens; the
//! tables belong to the role that migrates), and the policies of the migration
//! `row_level_security` and `row_security_org_array` read three settings that
//! [`Pool::checkout`](super::Pool::checkout) sets on every checkout, in one statement, so no
//! connection keeps the scope of its previous user: `delightchat.scope`,
//! `delightchat.user_id` and `delightchat.org_ids` (the viewer's orgs, looked up by that
//! statement, so the policies compare against an array instead of querying `memberships`
//! in every statement). A viewer's statement also returns their role in each org and
//! whether their session was ended ([`Access`], migration `viewer_access`), which is all
//! a GraphQL request needs to check membership.
//! - [`Scope::Viewer`]: the rows of the orgs the user is a member of (GraphQL requests,
//!   subscriptions);
//! - [`Scope::System`]: every row (webhook processing, workers, sign-in, operations);
//! - [`Scope::Nothing`]: no row of any table with an owner (what a connection sees before
//!   anyone says who it works for).

use std::collections::HashMap;

use diesel::QueryResult;
use diesel::QueryableByName;
use diesel::sql_types::{Bool, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::enums::Role;
use super::ids::{OrgId, UserId};
use super::prepared::PrepareOnce as _;
use super::{PoolError, PooledConn};

/// The role pooled connections switch to.
pub const APP_ROLE: &str = "delightchat_app";

/// Whose rows a connection may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The orgs this user is a member of.
    Viewer(UserId),
    /// Every org: trusted server-side work that spans orgs.
    System,
    /// No org.
    Nothing,
}

/// What a viewer's checkout learned about them in its scoping statement: their role in
/// each org they are a member of, and whether the session they came with was ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    roles: HashMap<OrgId, Role>,
    /// The session (refresh-token family) the caller presented was ended (`logout`,
    /// `changePassword`): they must sign in again.
    pub session_ended: bool,
}

impl Access {
    /// The caller's role in `org`, if they are a member.
    pub fn role_in(&self, org: OrgId) -> Option<Role> {
        self.roles.get(&org).copied()
    }
}

#[derive(QueryableByName)]
struct ViewerScoped {
    #[diesel(sql_type = Text)]
    org_ids: String,
    #[diesel(sql_type = Text)]
    roles: String,
    #[diesel(sql_type = Bool)]
    session_ended: bool,
}

/// Scopes a freshly checked-out connection (one statement); for a viewer, with what that
/// statement learned of them (`session`: the session they came with, if any).
pub(super) async fn apply(
    conn: PooledConn,
    scope: Scope,
    session: Option<uuid::Uuid>,
) -> Result<(PooledConn, Option<Access>), PoolError> {
    match apply_on(&conn, scope, session).await {
        Ok(access) => Ok((conn, access)),
        Err(e) => {
            discard(conn);
            Err(failed(e))
        }
    }
}

/// The scoping statement of `apply`, on a connection the caller holds (so that it can
/// send other statements right behind it, which PostgreSQL runs after it); on failure
/// the caller must [`discard`] the connection.
pub async fn apply_on(
    mut conn: &AsyncPgConnection,
    scope: Scope,
    session: Option<uuid::Uuid>,
) -> QueryResult<Option<Access>> {
    match scope {
        Scope::Viewer(user) => diesel::sql_query(
            "SELECT set_config('delightchat.scope', 'viewer', false), \
                    set_config('delightchat.user_id', $1::text, false), \
                    set_config('delightchat.org_ids', a.org_ids, false) AS org_ids, \
                    a.roles, a.session_ended \
             FROM app_access_of($1, $2) a",
        )
        .bind::<diesel::sql_types::Uuid, _>(user.0)
        .bind::<Nullable<diesel::sql_types::Uuid>, _>(session)
        .prepared()
        .get_result::<ViewerScoped>(&mut conn)
        .await
        .map(|row| Some(access(&row))),
        Scope::System | Scope::Nothing => diesel::sql_query(
            "SELECT set_config('delightchat.scope', $1, false), \
                    set_config('delightchat.user_id', '', false), \
                    set_config('delightchat.org_ids', '{}', false)",
        )
        .bind::<Text, _>(if scope == Scope::System { "system" } else { "" })
        .prepared()
        .execute(&mut conn)
        .await
        .map(|_| None),
    }
}

/// Keeps a connection whose scoping failed out of the pool: its settings are unknown now.
pub fn discard(conn: PooledConn) {
    drop(deadpool::managed::Object::take(conn));
}

/// A failed scoping statement as a checkout's error.
pub fn failed(error: diesel::result::Error) -> PoolError {
    PoolError::Backend(diesel_async::pooled_connection::PoolError::QueryError(
        error,
    ))
}

/// Pairs the statement's org ids with their roles (two array literals in the same order).
fn access(row: &ViewerScoped) -> Access {
    let roles = array_items(&row.org_ids)
        .zip(array_items(&row.roles))
        .filter_map(|(org, role)| Some((OrgId::parse(org)?, role.parse::<Role>().ok()?)));
    Access {
        roles: roles.collect(),
        session_ended: row.session_ended,
    }
}

/// The items of a PostgreSQL array literal of uuids or plain words (`{a,b}`).
fn array_items(literal: &str) -> impl Iterator<Item = &str> {
    literal
        .trim_start_matches('{')
        .trim_end_matches('}')
        .split(',')
        .filter(|item| !item.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_pair_with_their_orgs_in_order() {
        let a = uuid::Uuid::from_u128(1);
        let b = uuid::Uuid::from_u128(2);
        let row = ViewerScoped {
            org_ids: format!("{{{a},{b}}}"),
            roles: "{AGENT,ADMIN}".into(),
            session_ended: false,
        };
        let access = access(&row);
        assert_eq!(access.role_in(OrgId(a)), Some(Role::Agent));
        assert_eq!(access.role_in(OrgId(b)), Some(Role::Admin));
        assert_eq!(access.role_in(OrgId(uuid::Uuid::from_u128(3))), None);
    }

    #[test]
    fn no_membership_is_no_role() {
        let row = ViewerScoped {
            org_ids: "{}".into(),
            roles: "{}".into(),
            session_ended: true,
        };
        let access = access(&row);
        assert_eq!(access.role_in(OrgId(uuid::Uuid::from_u128(1))), None);
        assert!(access.session_ended);
    }
}
