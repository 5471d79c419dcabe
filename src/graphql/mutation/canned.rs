//! `createCannedResponse`, `updateCannedResponse`, `deleteCannedResponse` (org-wide ones:
//! ADMIN; personal ones: their owner), `renderCannedResponse`.

use async_graphql::{Context, ID, InputObject, Object, Result};

use crate::db::canned_responses::CannedChanges;
use crate::db::enums::Role;
use crate::db::ids::{CannedResponseId, TicketId};
use crate::graphql::context::{member, org_call};
use crate::graphql::types::label::CannedResponse;
use crate::graphql::types::parse_id;
use crate::inbox::canned::{self, Actor};

/// A new canned response.
#[derive(InputObject)]
pub struct CreateCannedResponseInput {
    /// 1 to 32 characters of a-z, 0-9, `_` and `-`; unique per scope.
    #[graphql(validator(max_length = 64))]
    short_code: String,
    /// The text; placeholders `{{customer.name}}`, `{{agent.name}}`, `{{ticket.id}}`.
    #[graphql(validator(max_length = 8192))]
    body: String,
    /// Only for the caller (any member); otherwise org-wide (ADMIN).
    #[graphql(default)]
    personal: bool,
}

/// Changes to a canned response; omitted fields stay.
#[derive(InputObject)]
pub struct UpdateCannedResponseInput {
    /// New short code.
    #[graphql(validator(max_length = 64))]
    short_code: Option<String>,
    /// New body.
    #[graphql(validator(max_length = 8192))]
    body: Option<String>,
}

/// Saved replies.
#[derive(Default)]
pub struct CannedMutation;

async fn actor(ctx: &Context<'_>, call: &crate::graphql::context::OrgCall<'_>) -> Result<Actor> {
    Ok(Actor {
        user: call.user,
        role: member(ctx, call.org).await?,
    })
}

#[Object]
impl CannedMutation {
    /// Saves a reply: personal (any member) or org-wide (ADMIN).
    async fn create_canned_response(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        input: CreateCannedResponseInput,
    ) -> Result<CannedResponse> {
        let mut call = org_call(ctx, &org_id, Role::Agent).await?;
        let actor = actor(ctx, &call).await?;
        let saved = canned::create(
            &mut call.conn,
            call.org,
            actor,
            input.personal,
            input.short_code,
            input.body,
        )
        .await?;
        Ok(CannedResponse(call.state.publish(saved)))
    }

    /// Changes a reply (org-wide: ADMIN; personal: its owner).
    async fn update_canned_response(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        id: ID,
        input: UpdateCannedResponseInput,
    ) -> Result<CannedResponse> {
        let id = parse_id(&id, CannedResponseId::parse)?;
        let mut call = org_call(ctx, &org_id, Role::Agent).await?;
        let actor = actor(ctx, &call).await?;
        let changes = CannedChanges {
            short_code: input.short_code,
            body: input.body,
        };
        let saved = canned::update(&mut call.conn, call.org, actor, id, changes).await?;
        Ok(CannedResponse(call.state.publish(saved)))
    }

    /// Deletes a reply (org-wide: ADMIN; personal: its owner); returns it as it was.
    async fn delete_canned_response(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        id: ID,
    ) -> Result<CannedResponse> {
        let id = parse_id(&id, CannedResponseId::parse)?;
        let mut call = org_call(ctx, &org_id, Role::Agent).await?;
        let actor = actor(ctx, &call).await?;
        let deleted = canned::delete(&mut call.conn, call.org, actor, id).await?;
        Ok(CannedResponse(call.state.publish(deleted)))
    }

    /// The reply's text as the caller would send it on a ticket (placeholders filled in;
    /// an unknown placeholder is BAD_USER_INPUT naming it).
    async fn render_canned_response(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        id: ID,
        ticket_id: ID,
    ) -> Result<String> {
        let id = parse_id(&id, CannedResponseId::parse)?;
        let ticket = parse_id(&ticket_id, TicketId::parse)?;
        let mut call = org_call(ctx, &org_id, Role::Agent).await?;
        Ok(canned::render_for(&mut call.conn, call.org, call.user, id, ticket).await?)
    }
}
