//! `addMember`, `removeMember`, `updateMemberRole` (ADMIN only) and `setAvailability`
//! (the caller's own).

use async_graphql::{Context, ID, InputObject, Object, Result};
use chrono::Utc;
use diesel_async::AsyncConnection as _;

use crate::auth::{check_password, non_blank, normalize_email};
use crate::db::enums::{Availability, EventKind, Role};
use crate::db::ids::{OrgId, UserId};
use crate::db::{orgs, users};
use crate::error::AppError;
use crate::graphql::context::{admin, org_call, state};
use crate::graphql::types::parse_id;
use crate::graphql::types::user::Membership;
use crate::inbox::members;
use crate::inbox::outbox::Outbox;

/// A person to add to an org. An existing account (same email) is added as it is; its
/// name and password are left unchanged.
#[derive(InputObject)]
pub struct AddMemberInput {
    /// Their email.
    #[graphql(validator(max_length = 320))]
    email: String,
    /// Their name (for a new account).
    #[graphql(validator(max_length = 200))]
    name: String,
    /// Their initial password (for a new account).
    #[graphql(validator(max_length = 256))]
    password: String,
    /// ADMIN or AGENT.
    role: Role,
}

/// Membership management.
#[derive(Default)]
pub struct OrgMutation;

#[Object]
impl OrgMutation {
    /// Adds a member to the org (ADMIN only).
    async fn add_member(
        &self,
        ctx: &Context<'_>,
        org_id: ID,
        input: AddMemberInput,
    ) -> Result<Membership> {
        let org = parse_id(&org_id, OrgId::parse)?;
        admin(ctx, org).await?;
        let state = state(ctx)?;
        let email = normalize_email(&input.email)?;
        let name = non_blank("name", &input.name)?;
        check_password(&input.password)?;
        let mut conn = state.conn().await.map_err(AppError::from)?;
        let existing = users::find_by_email(&mut conn, &email)
            .await
            .map_err(AppError::from)?;
        let new_user = match existing {
            Some(_) => None,
            None => Some(users::User {
                id: UserId::new(),
                email: email.clone(),
                name,
                password_hash: state
                    .passwords()
                    .hash(input.password)
                    .await
                    .map_err(AppError::from)?,
                created_at: Utc::now(),
            }),
        };
        let role = input.role;
        let membership = conn
            .transaction(async |conn| {
                let user_id = match &new_user {
                    Some(user) if users::insert(conn, user).await? => user.id,
                    // Created concurrently by someone else, or existing: use that account.
                    _ => match users::find_by_email(conn, &email).await? {
                        Some(user) => user.id,
                        None => return Err(AppError::NotFound),
                    },
                };
                if !orgs::add_member(conn, org, user_id, role).await? {
                    return Err(AppError::bad_input(
                        "this person is already a member of the org",
                    ));
                }
                let membership = orgs::membership(conn, org, user_id)
                    .await?
                    .ok_or(AppError::NotFound)?;
                let mut outbox = Outbox::default();
                outbox.member_row(EventKind::MemberAdded, &membership);
                Ok::<_, AppError>(outbox.commit(conn, membership).await?)
            })
            .await?;
        let membership = state.publish(membership);
        tracing::info!(org.id = %org, user.id = %membership.user_id, "added member");
        Ok(Membership(membership))
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
