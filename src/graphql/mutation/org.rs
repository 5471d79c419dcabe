//! `addMember`.

use async_graphql::{Context, ID, InputObject, Object, Result};
use chrono::Utc;
use diesel_async::AsyncConnection as _;

use crate::auth::{check_password, non_blank, normalize_email};
use crate::db::enums::Role;
use crate::db::ids::{OrgId, UserId};
use crate::db::{orgs, users};
use crate::error::AppError;
use crate::graphql::context::{admin, state};
use crate::graphql::types::parse_id;
use crate::graphql::types::user::Membership;

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
                orgs::membership(conn, org, user_id)
                    .await?
                    .ok_or(AppError::NotFound)
            })
            .await?;
        tracing::info!(org.id = %org, user.id = %membership.user_id, "added member");
        Ok(Membership(membership))
    }
}
