//! Joining an org by invitation, the only way in besides creating an org.
//!
//! An ADMIN invites an email with a role. The answer is the same whether or not that email
//! has an account: nothing about other people's accounts leaks to the inviting org. The
//! invitation keeps only the SHA-256 of its link's token; the link itself goes, sealed, to
//! the mail outbox for a mailer, and is shown once to the inviting ADMIN until one exists.
//! The invitee then either accepts while signed in to the account with that email, or
//! creates the account through the link. A link works once, for 7 days, until revoked.

use chrono::{Duration, Utc};
use diesel_async::{AsyncConnection as _, AsyncPgConnection};

use super::{Auth, Session, check_password, non_blank, normalize_email, opaque_token, refresh};
use crate::crypto::{SecretBox, aad};
use crate::db::enums::{EventKind, Role};
use crate::db::ids::{InvitationId, OrgId, UserId};
use crate::db::invitations::{self, Invitation, OutgoingMail};
use crate::db::{orgs, users};
use crate::error::{AppError, AppResult};
use crate::inbox::outbox::{Committed, Outbox};

/// How long an invitation link works.
pub const LIFETIME: Duration = Duration::days(7);
/// Prefix of invitation tokens.
const PREFIX: &str = "inv_";

/// A new invitation and the token of its link (shown once).
pub struct Issued {
    /// The stored invitation.
    pub invitation: Invitation,
    /// The secret of the link.
    pub token: String,
}

/// Invites `email` to `org` as `role`, on behalf of the ADMIN `by`.
pub async fn invite(
    conn: &mut AsyncPgConnection,
    secrets: &SecretBox,
    org: OrgId,
    by: UserId,
    email: &str,
    role: Role,
) -> AppResult<Issued> {
    let email = normalize_email(email)?;
    if invitations::is_member_email(conn, org, &email).await? {
        return Err(AppError::bad_input(
            "this person is already a member of the org",
        ));
    }
    let token = opaque_token::generate(PREFIX);
    let now = Utc::now();
    let invitation = Invitation {
        id: InvitationId::new(),
        org_id: org,
        email: email.clone(),
        role,
        token_hash: opaque_token::digest(PREFIX, &token).unwrap_or_default(),
        invited_by: Some(by),
        created_at: now,
        expires_at: now + LIFETIME,
        accepted_at: None,
        revoked_at: None,
    };
    let mail = OutgoingMail {
        id: uuid::Uuid::new_v4(),
        org_id: org,
        to_email: email,
        template: "invitation".into(),
        link_enc: secrets.seal(&token, &aad(invitation.id.0, "invitation_link")),
    };
    conn.transaction(async |conn| invitations::insert(conn, &invitation, &mail).await)
        .await?;
    tracing::info!(org.id = %org, invitation.id = %invitation.id, "invited a member");
    Ok(Issued { invitation, token })
}

/// Accepts an invitation for the signed-in `user`, whose email must be the invited one.
/// Every refusal is the same `NOT_FOUND`.
pub async fn accept(
    conn: &mut AsyncPgConnection,
    token: &str,
    user: &users::User,
) -> AppResult<Committed<orgs::Membership>> {
    let hash = opaque_token::digest(PREFIX, token).ok_or(AppError::NotFound)?;
    let membership = conn
        .transaction(async |conn| {
            let invitation = invitations::lock_open(conn, &hash)
                .await?
                .filter(|i| i.email == user.email)
                .ok_or(AppError::NotFound)?;
            let mut outbox = Outbox::default();
            let membership = join(conn, &invitation, user.id, &mut outbox).await?;
            AppResult::Ok(outbox.commit(conn, membership).await?)
        })
        .await?;
    tracing::info!(org.id = %membership.value.org_id, user.id = %user.id, "accepted an invitation");
    Ok(membership)
}

/// Creates the invited account through the link and signs it in. An email that already
/// has an account is told to sign in and accept instead.
pub async fn sign_up(
    app: &Auth<'_>,
    token: &str,
    name: &str,
    password: String,
) -> AppResult<Committed<Session>> {
    let hash = opaque_token::digest(PREFIX, token).ok_or(AppError::NotFound)?;
    let name = non_blank("name", name)?;
    check_password(&password)?;
    // A cheap look first, so a dead link costs no password hash.
    let mut conn = app.conn().await?;
    invitations::find_open(&mut conn, &hash)
        .await?
        .ok_or(AppError::NotFound)?;
    drop(conn);
    let password_hash = app
        .passwords()
        .hash(password)
        .await
        .map_err(AppError::from)?;
    let mut conn = app.conn().await?;
    let joined = conn
        .transaction(async |conn| {
            let invitation = invitations::lock_open(conn, &hash)
                .await?
                .ok_or(AppError::NotFound)?;
            let user = users::User {
                id: UserId::new(),
                email: invitation.email.clone(),
                name,
                password_hash,
                created_at: Utc::now(),
            };
            if !users::insert(conn, &user).await? {
                return Err(AppError::bad_input(
                    "an account with this email already exists: sign in and accept the invitation",
                ));
            }
            let mut outbox = Outbox::default();
            join(conn, &invitation, user.id, &mut outbox).await?;
            let refresh_token = refresh::issue(conn, user.id).await?;
            AppResult::Ok(outbox.commit(conn, (user, refresh_token)).await?)
        })
        .await?;
    tracing::info!(user.id = %joined.value.0.id, "signed up through an invitation");
    Ok(joined.map(|(user, refresh_token)| super::session(app, user, refresh_token)))
}

/// Makes `user` a member as invited (keeping an existing membership as it is), closes
/// the invitation, and records the MEMBER_ADDED event of a new membership in `outbox`.
async fn join(
    conn: &mut AsyncPgConnection,
    invitation: &Invitation,
    user: UserId,
    outbox: &mut Outbox,
) -> AppResult<orgs::Membership> {
    let added = orgs::add_member(conn, invitation.org_id, user, invitation.role).await?;
    invitations::mark_accepted(conn, invitation.id).await?;
    let membership = orgs::membership(conn, invitation.org_id, user)
        .await?
        .ok_or(AppError::NotFound)?;
    if added {
        outbox.member_row(EventKind::MemberAdded, &membership);
    }
    Ok(membership)
}
