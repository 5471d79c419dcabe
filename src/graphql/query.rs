//! Query root: the caller and the orgs they belong to.

use async_graphql::{Context, ID, Object, Result};

use super::context::{member_org, member_org_with, viewer};
use super::node::{self, Node};
use super::prefetch;
use super::types::org::{Org, TicketsArgs};
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

    /// Any object the caller may see, by id (Relay's global object identification);
    /// `null` for an id that does not exist or belongs to someone else.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Node>> {
        Ok(node::resolve(ctx, &[id]).await?.pop().flatten())
    }

    /// Objects by id, in the order asked (at most 100 ids); `null` for each id that does
    /// not exist or belongs to someone else.
    #[graphql(complexity = "ids.len().max(1) * child_complexity + 1")]
    async fn nodes(&self, ctx: &Context<'_>, ids: Vec<ID>) -> Result<Vec<Option<Node>>> {
        node::resolve(ctx, &ids).await
    }

    /// An org the caller belongs to; FORBIDDEN otherwise.
    async fn org(&self, ctx: &Context<'_>, id: ID) -> Result<Org> {
        let id = parse_id(&id, OrgId::parse)?;
        // The selection's page of tickets goes out right behind the checkout's scoping
        // statement, in its round.
        let Some((filter, page)) = TicketsArgs::ahead(ctx) else {
            return Ok(member_org(ctx, id).await?);
        };
        let (org, early) = member_org_with(ctx, id, |conn| {
            prefetch::tickets_alongside(conn, id, filter, page)
        })
        .await?;
        if let Some(Some(early)) = early {
            prefetch::keep_early_tickets(ctx, early);
        }
        Ok(org)
    }
}
