//! `inviteMember`, `revokeInvitation`, `removeMember`, `updateMemberRole` (ADMIN only)
//! and `setAvailability` (the caller's own). Invitations: see [`crate::auth::invitations`].

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};

use crate::auth::invitations;
use crate::db::enums::{Availability, Role};
use crate::db::ids::{InvitationId, UserId};
use crate::db::invitations as invitation_rows;
use crate::error::AppError;
use crate::graphql::context::org_call;
use crate::graphql::types::invitation::Invitation;
use crate::graphql::types::parse_id;
use crate::graphql::types::user::Membership;
use crate::inbox::members;

/// Whom to invite.
#[derive(InputObject)]
pub struct InviteMemberInput {
    /// Their email.
    #[graphql(validator(max_length = 320))]
    email: String,
    /// ADMIN or AGENT.
    role: Role,
}

/// A new invitation. The answer is the same whether or not the email has an account.
#[derive(SimpleObject)]
pub struct InvitationCreated {
    /// The invitation.
    invitation: Invitation,
    /// The secret of the invitation link, shown once. The invitee passes it to
    /// `acceptInvitation` (signed in) or `signupWithInvitation` (new account). It is also
    /// queued, sealed, in the mail outbox for a mailer.
    token: String,
}

/// Membership management.
#[derive(Default)]
pub struct OrgMutation;

#[Object]
impl OrgMutation {
    /// Invites someone to the org with a role (ADMIN only); the link works once, for 7 days.
    async fn invite_member(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        input: InviteMemberInput,
    ) -> Result<InvitationCreated> {
        let mut call = org_call(ctx, &org_id, Role::Admin).await?;
        let issued = invitations::invite(
            &mut call.conn,
            call.state.secrets(),
            call.org,
            call.user,
            &input.email,
            input.role,
        )
        .await?;
        Ok(InvitationCreated {
            invitation: Invitation(issued.invitation),
            token: issued.token,
        })
    }

    /// Revokes an open invitation (ADMIN only); its link stops working.
    async fn revoke_invitation(&self, ctx: &Context<'_>, org_id: ID, id: ID) -> Result<bool> {
        let id = parse_id(&id, InvitationId::parse)?;
        let mut call = org_call(ctx, &org_id, Role::Admin).await?;
        if invitation_rows::revoke(&mut call.conn, call.org, id)
            .await
            .map_err(AppError::from)?
        {
            Ok(true)
        } else {
            Err(AppError::NotFound.into())
        }
    }

    /// Removes a member from the org (ADMIN only). Their requests in the org are refused
    /// from the next one on, their subscriptions end, their tickets are unassigned. The
    /// last ADMIN cannot be removed.
    async fn remove_member(&self, ctx: &Context<'_>, org_id: ID, user_id: ID) -> Result<bool> {
        let user = parse_id(&user_id, UserId::parse)?;
        let mut call = org_call(ctx, &org_id, Role::Admin).await?;
        let removed = members::remove(&mut call.conn, call.org, user).await?;
        call.state.publish(removed);
        Ok(true)
    }

    /// Changes a member's role (ADMIN only); the org always keeps at least one ADMIN.
    async fn update_member_role(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        user_id: ID,
        role: Role,
    ) -> Result<Membership> {
        let user = parse_id(&user_id, UserId::parse)?;
        let mut call = org_call(ctx, &org_id, Role::Admin).await?;
        let updated = members::set_role(&mut call.conn, call.org, user, role).await?;
        Ok(Membership(call.state.publish(updated)))
    }

    /// Sets the caller's availability in the org. ONLINE members receive auto-assigned
    /// tickets; a member whose last socket has been closed for a while goes OFFLINE.
    async fn set_availability(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        availability: Availability,
    ) -> Result<Membership> {
        let mut call = org_call(ctx, &org_id, Role::Agent).await?;
        let updated =
            members::set_availability(&mut call.conn, call.org, call.user, availability).await?;
        Ok(Membership(call.state.publish(updated)))
    }
}
