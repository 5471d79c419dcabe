//! `inviteMember`, `revokeInvitation` (ADMIN only); see [`crate::auth::invitations`].

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};

use crate::auth::invitations;
use crate::db::enums::Role;
use crate::db::ids::InvitationId;
use crate::db::invitations as invitation_rows;
use crate::error::AppError;
use crate::graphql::context::org_call;
use crate::graphql::types::invitation::Invitation;
use crate::graphql::types::parse_id;

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
}
