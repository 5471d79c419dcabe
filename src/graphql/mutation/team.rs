//! `createTeam`, `updateTeam`, `deleteTeam`, `addTeamMember`, `removeTeamMember`
//! (ADMIN only).

use async_graphql::{Context, ID, InputObject, Object, Result};

use crate::db::enums::Role;
use crate::db::ids::{TeamId, UserId};
use crate::graphql::context::org_call;
use crate::graphql::types::parse_id;
use crate::graphql::types::team::Team;
use crate::inbox::teams::{self as team_ops, TeamSettings};

/// A new team.
#[derive(InputObject)]
pub struct CreateTeamInput {
    /// Its name (unique in the org, ignoring case).
    #[graphql(validator(max_length = 200))]
    name: String,
    /// Assign new and reopened tickets round-robin to ONLINE members (default false).
    auto_assign: Option<bool>,
    /// Open tickets each member may hold in the team (default 10).
    max_open_tickets: Option<i32>,
}

/// Changes to a team; omitted fields stay as they are.
#[derive(InputObject)]
pub struct UpdateTeamInput {
    /// New name.
    #[graphql(validator(max_length = 200))]
    name: Option<String>,
    /// Auto-assignment on or off.
    auto_assign: Option<bool>,
    /// Open tickets each member may hold in the team.
    max_open_tickets: Option<i32>,
}

/// Team management.
#[derive(Default)]
pub struct TeamMutation;

#[Object]
impl TeamMutation {
    /// Creates a team.
    async fn create_team(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        input: CreateTeamInput,
    ) -> Result<Team> {
        let mut call = org_call(ctx, &org_id, Role::Admin).await?;
        let settings = TeamSettings {
            name: Some(input.name),
            auto_assign: input.auto_assign,
            max_open_tickets: input.max_open_tickets,
        };
        let created = team_ops::create(&mut call.conn, call.org, settings).await?;
        Ok(Team(call.state.publish(created)))
    }

    /// Renames a team or changes its auto-assignment settings.
    async fn update_team(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        id: ID,
        input: UpdateTeamInput,
    ) -> Result<Team> {
        let id = parse_id(&id, TeamId::parse)?;
        let mut call = org_call(ctx, &org_id, Role::Admin).await?;
        let settings = TeamSettings {
            name: input.name,
            auto_assign: input.auto_assign,
            max_open_tickets: input.max_open_tickets,
        };
        let updated = team_ops::update(&mut call.conn, call.org, id, settings).await?;
        Ok(Team(call.state.publish(updated)))
    }

    /// Deletes a team; its tickets keep their assignees and lose the team.
    async fn delete_team(&self, ctx: &Context<'_>, org_id: ID, id: ID) -> Result<bool> {
        let id = parse_id(&id, TeamId::parse)?;
        let mut call = org_call(ctx, &org_id, Role::Admin).await?;
        let deleted = team_ops::delete(&mut call.conn, call.org, id).await?;
        call.state.publish(deleted);
        Ok(true)
    }

    /// Adds a member of the org to a team, or changes their own capacity in it
    /// (`maxOpenTickets`; null: the team's).
    async fn add_team_member(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        team_id: ID,
        user_id: ID,
        max_open_tickets: Option<i32>,
    ) -> Result<Team> {
        let team = parse_id(&team_id, TeamId::parse)?;
        let user = parse_id(&user_id, UserId::parse)?;
        let mut call = org_call(ctx, &org_id, Role::Admin).await?;
        let updated =
            team_ops::add_member(&mut call.conn, call.org, team, user, max_open_tickets).await?;
        Ok(Team(call.state.publish(updated)))
    }

    /// Removes a member from a team (their tickets stay theirs).
    async fn remove_team_member(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        team_id: ID,
        user_id: ID,
    ) -> Result<Team> {
        let team = parse_id(&team_id, TeamId::parse)?;
        let user = parse_id(&user_id, UserId::parse)?;
        let mut call = org_call(ctx, &org_id, Role::Admin).await?;
        let updated = team_ops::remove_member(&mut call.conn, call.org, team, user).await?;
        Ok(Team(call.state.publish(updated)))
    }
}
