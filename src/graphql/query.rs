//! Query root: the caller and the orgs they belong to.

use async_graphql::{Context, ID, Object, Result};

use super::context::{member_org, viewer};
use super::types::org::Org;
use super::types::parse_id;
use super::types::user::User;
use crate::db::ids::OrgId;
use crate::error::AppError;
use crate::graphql::loaders::Loaders;

/// Root of all queries.
#[derive(Default)]
pub struct Query;

#[Object]
impl Query {
    /// The signed-in user.
    async fn me(&self, ctx: &Context<'_>) -> Result<User> {
        let viewer = viewer(ctx)?;
        let user = ctx.data::<Loaders>()?.load_one(viewer.user_id).await?;
        Ok(user.map(User::new).ok_or(AppError::Unauthenticated)?)
    }

    /// An org the caller belongs to; FORBIDDEN otherwise.
    async fn org(&self, ctx: &Context<'_>, id: ID) -> Result<Org> {
        let id = parse_id(&id, OrgId::parse)?;
        Ok(member_org(ctx, id).await?)
    }
}
