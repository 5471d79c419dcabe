//! `invitations` and `mail_outbox`: pending invitations to join an org, and the mails a
//! mailer is to send for them.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::enums::Role;
use super::ids::{InvitationId, OrgId, UserId};
use super::schema::{invitations, mail_outbox};

/// An invitation. Its token is never stored, only `token_hash`.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = invitations)]
pub struct Invitation {
    /// Id.
    pub id: InvitationId,
    /// The org to join.
    pub org_id: OrgId,
    /// Lower-cased email of the invitee.
    pub email: String,
    /// Role given on acceptance.
    pub role: Role,
    /// SHA-256 of the link's token.
    pub token_hash: Vec<u8>,
    /// The ADMIN who invited.
    pub invited_by: Option<UserId>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// After this, the link no longer works.
    pub expires_at: DateTime<Utc>,
    /// When it was accepted.
    pub accepted_at: Option<DateTime<Utc>>,
    /// When an ADMIN revoked it.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A mail waiting for the mailer.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = mail_outbox)]
pub struct OutgoingMail {
    /// Id.
    pub id: uuid::Uuid,
    /// The org it is sent for.
    pub org_id: OrgId,
    /// Recipient.
    pub to_email: String,
    /// Which mail (`invitation`).
    pub template: String,
    /// The link to put in it, sealed with the server's secret key.
    pub link_enc: Vec<u8>,
}

/// Not accepted, revoked or expired: the link still works.
#[diesel::dsl::auto_type]
fn is_open() -> _ {
    invitations::accepted_at
        .is_null()
        .and(invitations::revoked_at.is_null())
        .and(invitations::expires_at.gt(diesel::dsl::now))
}

/// Stores an invitation and its mail, in the caller's transaction.
pub async fn insert(
    conn: &mut AsyncPgConnection,
    invitation: &Invitation,
    mail: &OutgoingMail,
) -> QueryResult<()> {
    diesel::insert_into(invitations::table)
        .values(invitation)
        .execute(conn)
        .await?;
    diesel::insert_into(mail_outbox::table)
        .values(mail)
        .execute(conn)
        .await?;
    Ok(())
}

/// The open (not accepted, revoked or expired) invitation with this token hash, locked
/// for the rest of the transaction.
pub async fn lock_open(
    conn: &mut AsyncPgConnection,
    token_hash: &[u8],
) -> QueryResult<Option<Invitation>> {
    invitations::table
        .filter(invitations::token_hash.eq(token_hash))
        .filter(is_open())
        .select(Invitation::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

/// Marks an invitation accepted.
pub async fn mark_accepted(conn: &mut AsyncPgConnection, id: InvitationId) -> QueryResult<()> {
    diesel::update(invitations::table.find(id))
        .set(invitations::accepted_at.eq(diesel::dsl::now))
        .execute(conn)
        .await?;
    Ok(())
}

/// The org's open invitations, newest first.
pub async fn list_open(mut conn: &AsyncPgConnection, org: OrgId) -> QueryResult<Vec<Invitation>> {
    invitations::table
        .filter(invitations::org_id.eq(org))
        .filter(is_open())
        .order(invitations::created_at.desc())
        .limit(500)
        .select(Invitation::as_select())
        .load(&mut conn)
        .await
}

/// Revokes an open invitation of `org`; `false` when there is none with this id.
pub async fn revoke(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    id: InvitationId,
) -> QueryResult<bool> {
    let n = diesel::update(
        invitations::table
            .filter(invitations::id.eq(id))
            .filter(invitations::org_id.eq(org))
            .filter(invitations::accepted_at.is_null())
            .filter(invitations::revoked_at.is_null()),
    )
    .set(invitations::revoked_at.eq(diesel::dsl::now))
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// Whether someone with this (lower-cased) email is already a member of `org`.
pub async fn is_member_email(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    email: &str,
) -> QueryResult<bool> {
    use super::schema::{memberships, users};
    diesel::select(diesel::dsl::exists(
        memberships::table
            .inner_join(users::table)
            .filter(memberships::org_id.eq(org))
            .filter(users::email.eq(email)),
    ))
    .get_result(conn)
    .await
}

/// The open invitation with this token hash, without locking (a cheap check before
/// expensive work).
pub async fn find_open(
    conn: &mut AsyncPgConnection,
    token_hash: &[u8],
) -> QueryResult<Option<Invitation>> {
    invitations::table
        .filter(invitations::token_hash.eq(token_hash))
        .filter(is_open())
        .select(Invitation::as_select())
        .first(conn)
        .await
        .optional()
}
