//! `signup`, `login`, `refreshToken`, `logout`, `changePassword`, and joining an org by
//! invitation: `acceptInvitation`, `signupWithInvitation`.

use async_graphql::{Context, InputObject, Object, Result};

use crate::auth::{self, SignupRequest, invitations};
use crate::db::users;
use crate::error::{AppError, AppResult};
use crate::graphql::context::{request, state, take_auth_attempt, viewer};
use crate::graphql::types::user::{AuthPayload, Membership};

/// A new org and its first admin.
#[derive(InputObject)]
pub struct SignupInput {
    /// Name of the org.
    #[graphql(validator(max_length = 200))]
    org_name: String,
    /// The admin's name.
    #[graphql(validator(max_length = 200))]
    name: String,
    /// The admin's email.
    #[graphql(validator(max_length = 320))]
    email: String,
    /// 8 to 256 characters.
    #[graphql(validator(max_length = 256))]
    password: String,
}

/// A new account created through an invitation link.
#[derive(InputObject)]
pub struct SignupWithInvitationInput {
    /// The invitation's token.
    #[graphql(validator(max_length = 256))]
    token: String,
    /// Their name.
    #[graphql(validator(max_length = 200))]
    name: String,
    /// 8 to 256 characters.
    #[graphql(validator(max_length = 256))]
    password: String,
}

/// Sign-up, sign-in and refresh.
#[derive(Default)]
pub struct AuthMutation;

#[Object]
impl AuthMutation {
    /// Creates an org with the caller as its ADMIN and signs them in.
    async fn signup(&self, ctx: &Context<'_>, input: SignupInput) -> Result<AuthPayload> {
        take_auth_attempt(ctx)?;
        let request = SignupRequest {
            org_name: input.org_name,
            name: input.name,
            email: input.email,
            password: input.password,
        };
        let (session, _org) = auth::signup(&state(ctx)?.auth(), request).await?;
        Ok(signed_in(ctx, session)?)
    }

    /// Signs in. Wrong email or password give the same UNAUTHENTICATED error.
    async fn login(
        &self,
        ctx: &Context<'_>,
        #[graphql(validator(max_length = 320))] email: String,
        #[graphql(validator(max_length = 1024))] password: String,
    ) -> Result<AuthPayload> {
        take_auth_attempt(ctx)?;
        let session = auth::login(&state(ctx)?.auth(), &email, password).await?;
        Ok(signed_in(ctx, session)?)
    }

    /// Exchanges a refresh token for new tokens; the old refresh token stops working.
    async fn refresh_token(
        &self,
        ctx: &Context<'_>,
        #[graphql(validator(max_length = 2048))] token: String,
    ) -> Result<AuthPayload> {
        take_auth_attempt(ctx)?;
        let session = auth::refresh_session(&state(ctx)?.auth(), &token).await?;
        Ok(signed_in(ctx, session)?)
    }

    /// Joins the org of an invitation addressed to the caller's email. Unknown, used,
    /// revoked, expired or someone else's invitations are all NOT_FOUND.
    async fn accept_invitation(
        &self,
        ctx: &Context<'_>,
        #[graphql(validator(max_length = 256))] token: String,
    ) -> Result<Membership> {
        let caller = viewer(ctx)?;
        // The invitation is another org's until accepted: only the token says it is ours.
        let mut conn = state(ctx)?.system_conn().await.map_err(AppError::from)?;
        let user = users::find(&mut conn, caller.user_id)
            .await
            .map_err(AppError::from)?
            .ok_or(AppError::Unauthenticated)?;
        let joined = invitations::accept(&mut conn, &token, &user).await?;
        Ok(Membership(state(ctx)?.publish(joined)))
    }

    /// Creates the invited account through the invitation link and signs it in.
    async fn signup_with_invitation(
        &self,
        ctx: &Context<'_>,
        input: SignupWithInvitationInput,
    ) -> Result<AuthPayload> {
        take_auth_attempt(ctx)?;
        let session = invitations::sign_up(
            &state(ctx)?.auth(),
            &input.token,
            &input.name,
            input.password,
        )
        .await?;
        let session = state(ctx)?.publish(session);
        Ok(signed_in(ctx, session)?)
    }

    /// Ends the caller's session: its refresh tokens stop working, and so do its access
    /// tokens. Pass `refreshToken` to end that token's session (also without an access
    /// token, e.g. once it expired: holding the refresh token is enough).
    async fn logout(
        &self,
        ctx: &Context<'_>,
        #[graphql(validator(max_length = 2048))] refresh_token: Option<String>,
    ) -> Result<bool> {
        let caller = request(ctx)?.viewer;
        if caller.is_none() {
            // Without a token to sign out from, say so; with only a refresh token, the
            // lookup counts against the address's limit like a refresh.
            if refresh_token.is_none() {
                viewer(ctx)?;
            }
            take_auth_attempt(ctx)?;
        }
        auth::logout(&state(ctx)?.auth(), caller, refresh_token.as_deref()).await?;
        Ok(true)
    }

    /// Changes the caller's password and ends every other session of theirs (this one
    /// stays signed in).
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        #[graphql(validator(max_length = 1024))] current_password: String,
        #[graphql(validator(max_length = 256))] new_password: String,
    ) -> Result<bool> {
        let caller = viewer(ctx)?;
        auth::change_password(
            &state(ctx)?.auth(),
            caller.user_id,
            caller.session,
            current_password,
            new_password,
        )
        .await?;
        Ok(true)
    }
}

/// The payload of a new session, which the rest of the request reads as its user.
fn signed_in(ctx: &Context<'_>, session: auth::Session) -> AppResult<AuthPayload> {
    request(ctx)?.reads_as.signed_in(session.user.id);
    Ok(AuthPayload(session))
}
