//! Refresh tokens: opaque 256-bit random strings, stored only as SHA-256.
//!
//! Each use rotates the token (the old one is marked used, a new one of the same family
//! is issued). Presenting a used token again means it was stolen or replayed: the whole
//! family is revoked, including the newest token. Tokens expire after 14 idle days and
//! families after 30 days in all.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::opaque_token;
use crate::db::ids::UserId;
use crate::db::schema::refresh_tokens;

const IDLE_LIFETIME: Duration = Duration::days(14);
const FAMILY_LIFETIME: Duration = Duration::days(30);
/// Prefix that tells refresh tokens apart from JWTs at a glance.
const PREFIX: &str = "rt_";

/// Why a refresh failed. The client sees "not authenticated" for all of them.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// Unknown, expired or revoked token.
    #[error("refresh token is not valid")]
    Invalid,
    /// A rotated token was presented again; its family is now revoked.
    #[error("refresh token reused; family revoked")]
    Reused,
    /// Database failure.
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = refresh_tokens)]
struct Row {
    id: Uuid,
    user_id: UserId,
    family_id: Uuid,
    family_expires_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

/// Issues the first token of a new family (a new session) for `user`: the token and the
/// family's id.
pub async fn issue(conn: &mut AsyncPgConnection, user: UserId) -> QueryResult<(String, Uuid)> {
    let now = Utc::now();
    let family = Uuid::new_v4();
    let token = insert(conn, user, family, now + FAMILY_LIFETIME, now).await?;
    Ok((token, family))
}

/// Rotates `token`: returns its user, the next token of the family and the family.
pub async fn rotate(
    conn: &mut AsyncPgConnection,
    token: &str,
) -> Result<(UserId, String, Uuid), RefreshError> {
    let hash = digest(token).ok_or(RefreshError::Invalid)?;
    // The reuse branch must commit its revocation even though the call fails, so the
    // transaction returns the outcome and the error is raised after commit.
    let rotation = conn
        .transaction(async |conn| {
            let row: Option<Row> = refresh_tokens::table
                .filter(refresh_tokens::token_hash.eq(&hash))
                .for_update()
                .select(Row::as_select())
                .first(conn)
                .await
                .optional()?;
            let now = Utc::now();
            let Some(row) = row else {
                return Ok(Rotation::Invalid);
            };
            if row.revoked_at.is_some() || row.expires_at <= now || row.family_expires_at <= now {
                return Ok(Rotation::Invalid);
            }
            if row.used_at.is_some() {
                revoke_family(conn, row.family_id).await?;
                return Ok(Rotation::ReusedAndRevoked);
            }
            diesel::update(refresh_tokens::table.find(row.id))
                .set(refresh_tokens::used_at.eq(now))
                .execute(conn)
                .await?;
            let next = insert(conn, row.user_id, row.family_id, row.family_expires_at, now).await?;
            Ok::<_, diesel::result::Error>(Rotation::Rotated(row.user_id, next, row.family_id))
        })
        .await?;
    match rotation {
        Rotation::Rotated(user, next, family) => Ok((user, next, family)),
        Rotation::Invalid => Err(RefreshError::Invalid),
        Rotation::ReusedAndRevoked => {
            tracing::warn!("refresh token reuse detected; token family revoked");
            Err(RefreshError::Reused)
        }
    }
}

/// What a rotation attempt did, decided inside its transaction.
enum Rotation {
    /// The token was spent; its user, the family's next token and the family.
    Rotated(UserId, String, Uuid),
    /// Unknown, revoked or expired.
    Invalid,
    /// Already spent: the whole family was revoked (and that must commit).
    ReusedAndRevoked,
}

/// The owner and family of `token` (spent or not), if it is one of ours.
pub async fn family_of(
    conn: &mut AsyncPgConnection,
    token: &str,
) -> QueryResult<Option<(UserId, Uuid)>> {
    let Some(hash) = digest(token) else {
        return Ok(None);
    };
    refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(hash))
        .select((refresh_tokens::user_id, refresh_tokens::family_id))
        .first(conn)
        .await
        .optional()
}

/// Ends `user`'s session `family`: none of its refresh tokens work any more, and access
/// tokens naming it are refused.
pub async fn revoke(conn: &mut AsyncPgConnection, user: UserId, family: Uuid) -> QueryResult<()> {
    diesel::update(refresh_tokens::table)
        .filter(refresh_tokens::family_id.eq(family))
        .filter(refresh_tokens::user_id.eq(user))
        .filter(refresh_tokens::revoked_at.is_null())
        .set(refresh_tokens::revoked_at.eq(diesel::dsl::now))
        .execute(conn)
        .await?;
    Ok(())
}

/// Ends every session of `user` except `keep`; how many tokens were revoked.
pub async fn revoke_others(
    conn: &mut AsyncPgConnection,
    user: UserId,
    keep: Option<Uuid>,
) -> QueryResult<usize> {
    let mut query = diesel::update(refresh_tokens::table)
        .filter(refresh_tokens::user_id.eq(user))
        .filter(refresh_tokens::revoked_at.is_null())
        .into_boxed();
    if let Some(keep) = keep {
        query = query.filter(refresh_tokens::family_id.ne(keep));
    }
    query
        .set(refresh_tokens::revoked_at.eq(diesel::dsl::now))
        .execute(conn)
        .await
}

async fn revoke_family(conn: &mut AsyncPgConnection, family: Uuid) -> QueryResult<usize> {
    diesel::update(refresh_tokens::table)
        .filter(refresh_tokens::family_id.eq(family))
        .filter(refresh_tokens::revoked_at.is_null())
        .set(refresh_tokens::revoked_at.eq(diesel::dsl::now))
        .execute(conn)
        .await
}

async fn insert(
    conn: &mut AsyncPgConnection,
    user: UserId,
    family: Uuid,
    family_expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> QueryResult<String> {
    let token = opaque_token::generate(PREFIX);
    let hash = digest(&token).unwrap_or_default();
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::id.eq(Uuid::new_v4()),
            refresh_tokens::user_id.eq(user),
            refresh_tokens::family_id.eq(family),
            refresh_tokens::token_hash.eq(hash),
            refresh_tokens::family_expires_at.eq(family_expires_at),
            refresh_tokens::expires_at.eq((now + IDLE_LIFETIME).min(family_expires_at)),
        ))
        .execute(conn)
        .await?;
    Ok(token)
}

/// SHA-256 of a well-formed refresh token; `None` for anything that cannot be one.
fn digest(token: &str) -> Option<Vec<u8>> {
    opaque_token::digest(PREFIX, token)
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_well_formed_tokens_are_looked_up() {
        assert!(super::digest("eyJhbGciOiJIUzI1NiJ9.e30.x").is_none());
        assert!(super::digest("rt_short").is_none());
        let token = format!("rt_{}", "A".repeat(43));
        assert!(super::digest(&token).is_some());
    }
}
