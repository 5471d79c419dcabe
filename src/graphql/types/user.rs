//! `User`, `Membership` and `AuthPayload`.

use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};

use super::org::Org;
use super::to_id;
use crate::auth::Session;
use crate::db::enums::{Availability, Role};
use crate::db::{orgs, users};
use crate::error::AppError;
use crate::graphql::context::{conn, member_org, request, viewer};
use crate::graphql::loaders::Loaders;

/// A person who signs in. Never exposes the password hash.
pub struct User {
    row: users::User,
    /// Built for the person who just signed in (no `Authorization` header yet).
    own: bool,
}

impl User {
    /// A user as seen by the caller.
    pub fn new(row: users::User) -> Self {
        Self { row, own: false }
    }
}

#[Object]
impl User {
    async fn id(&self) -> ID {
        to_id(self.row.id)
    }

    async fn name(&self) -> &str {
        &self.row.name
    }

    async fn email(&self) -> &str {
        &self.row.email
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.row.created_at
    }

    /// The orgs this user belongs to. For another user, only the orgs the caller shares.
    async fn memberships(&self, ctx: &Context<'_>) -> Result<Vec<Membership>> {
        let viewer = if self.own {
            self.row.id
        } else {
            viewer(ctx)?.user_id
        };
        let conn = conn(ctx).await?;
        let mut rows = orgs::memberships_of_user(&conn, self.row.id)
            .await
            .map_err(AppError::from)?;
        if viewer != self.row.id {
            let mine = orgs::memberships_of_user(&conn, viewer)
                .await
                .map_err(AppError::from)?;
            rows.retain(|m| mine.iter().any(|own| own.org_id == m.org_id));
        }
        Ok(rows.into_iter().map(Membership).collect())
    }
}

/// A user's role in an org.
pub struct Membership(pub orgs::Membership);

#[Object]
impl Membership {
    async fn user(&self, ctx: &Context<'_>) -> Result<User> {
        let user = ctx.data::<Loaders>()?.load_one(self.0.user_id).await?;
        user.map(User::new).ok_or_else(|| "user not found".into())
    }

    /// The org, with `viewerRole` the caller's own role there (not this member's).
    async fn org(&self, ctx: &Context<'_>) -> Result<Org> {
        // Without a token, the only memberships shown are the new session's own.
        let caller = request(ctx)?.viewer.map(|v| v.user_id);
        if caller.is_some_and(|caller| caller != self.0.user_id) {
            return Ok(member_org(ctx, self.0.org_id).await?);
        }
        let org = ctx.data::<Loaders>()?.load_one(self.0.org_id).await?;
        let org = org.ok_or("org not found")?;
        Ok(Org::new(org, self.0.role))
    }

    async fn role(&self) -> Role {
        self.0.role
    }

    /// Whether they take work now (auto-assignment only picks ONLINE members).
    async fn availability(&self) -> Availability {
        self.0.availability
    }

    async fn availability_changed_at(&self) -> DateTime<Utc> {
        self.0.availability_changed_at
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// Tokens after signup, login or refresh.
pub struct AuthPayload(pub Session);

#[Object]
impl AuthPayload {
    /// Short-lived JWT: send as `Authorization: Bearer <accessToken>`.
    async fn access_token(&self) -> &str {
        &self.0.access_token
    }

    /// When the access token expires.
    async fn access_token_expires_at(&self) -> DateTime<Utc> {
        self.0.access_token_expires_at
    }

    /// Single-use refresh token for `refreshToken`.
    async fn refresh_token(&self) -> &str {
        &self.0.refresh_token
    }

    async fn user(&self) -> User {
        User {
            row: self.0.user.clone(),
            own: true,
        }
    }
}
