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
//! in every statement).
//! - [`Scope::Viewer`]: the rows of the orgs the user is a member of (GraphQL requests,
//!   subscriptions);
//! - [`Scope::System`]: every row (webhook processing, workers, sign-in, operations);
//! - [`Scope::Nothing`]: no row of any table with an owner (what a connection sees before
//!   anyone says who it works for).

use diesel::sql_types::{Nullable, Text};
use diesel_async::RunQueryDsl;

use super::ids::UserId;
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

impl Scope {
    /// The values of `delightchat.scope` and `delightchat.user_id`.
    fn settings(self) -> (&'static str, Option<uuid::Uuid>) {
        match self {
            Scope::Viewer(user) => ("viewer", Some(user.0)),
            Scope::System => ("system", None),
            Scope::Nothing => ("", None),
        }
    }
}

/// Scopes a freshly checked-out connection (one statement).
pub(super) async fn apply(mut conn: PooledConn, scope: Scope) -> Result<PooledConn, PoolError> {
    let (kind, user) = scope.settings();
    let scoped = diesel::sql_query(
        "SELECT set_config('delightchat.scope', $1, false), \
                set_config('delightchat.user_id', coalesce($2::text, ''), false), \
                set_config('delightchat.org_ids', \
                           CASE WHEN $2 IS NULL THEN '{}' ELSE app_orgs_of($2) END, false)",
    )
    .bind::<Text, _>(kind)
    .bind::<Nullable<diesel::sql_types::Uuid>, _>(user)
    .prepared()
    .execute(&mut conn)
    .await;
    match scoped {
        Ok(_) => Ok(conn),
        Err(e) => {
            // Its settings are unknown now: it must not go back to the pool.
            drop(deadpool::managed::Object::take(conn));
            Err(PoolError::Backend(
                diesel_async::pooled_connection::PoolError::QueryError(e),
            ))
        }
    }
}
