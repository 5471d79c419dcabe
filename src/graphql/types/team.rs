//! `Team` and `TeamMember`.

use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};

use super::to_id;
use super::user::User;
use crate::db::teams;
use crate::graphql::loaders::{Loaders, MembersOf};

/// A team of an org: a group of members who work a share of the inbox.
pub struct Team(pub teams::Team);

#[Object]
impl Team {
    /// The object's id (a UUID); `Query.node(id:)` fetches it again.
    pub(crate) async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    /// New and reopened tickets go round-robin to the team's ONLINE members.
    async fn auto_assign(&self) -> bool {
        self.0.auto_assign
    }

    /// Open tickets (OPEN or PENDING) a member may hold in the team before
    /// auto-assignment passes them over, unless set for the member.
    async fn max_open_tickets(&self) -> i32 {
        self.0.max_open_tickets
    }

    async fn members(&self, ctx: &Context<'_>) -> Result<Vec<TeamMember>> {
        let rows = ctx
            .data::<Loaders>()?
            .load_one(MembersOf(self.0.id))
            .await?
            .unwrap_or_default();
        Ok(rows.into_iter().map(TeamMember).collect())
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// A member of a team.
pub struct TeamMember(pub teams::TeamMember);

#[Object]
impl TeamMember {
    async fn user(&self, ctx: &Context<'_>) -> Result<User> {
        let user = ctx.data::<Loaders>()?.load_one(self.0.user_id).await?;
        user.map(User::new).ok_or_else(|| "user not found".into())
    }

    /// Their own cap on open tickets in this team (null: the team's).
    async fn max_open_tickets(&self) -> Option<i32> {
        self.0.max_open_tickets
    }

    /// When auto-assignment last gave them a ticket of this team.
    async fn last_assigned_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_assigned_at
    }
}
