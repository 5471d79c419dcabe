//! Who is calling: the user behind a verified access token.

use chrono::{DateTime, Utc};

use super::jwt::JwtKeys;
use crate::db::enums::Role;
use crate::db::ids::{OrgId, UserId};
use crate::db::scope::Access;
use crate::error::{AppError, AppResult};

/// The authenticated caller of a request or WebSocket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewer {
    /// The signed-in user.
    pub user_id: UserId,
    /// When their access token expires (a WebSocket is closed then).
    pub expires_at: DateTime<Utc>,
    /// Their session (refresh-token family); a revoked session's tokens are refused.
    pub session: Option<uuid::Uuid>,
}

impl Viewer {
    /// Reads an `Authorization` header value: `Ok(None)` when absent, an error when
    /// present but not a valid `Bearer` access token (`TokenExpired` when it is genuine
    /// but expired, `Unauthenticated` otherwise).
    pub fn from_authorization(
        header: Option<&str>,
        jwt: &JwtKeys,
    ) -> Result<Option<Self>, AppError> {
        let Some(header) = header else {
            return Ok(None);
        };
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or(AppError::Unauthenticated)?;
        Self::from_token(token.trim(), jwt).map(Some)
    }

    /// Verifies a bare access token.
    pub fn from_token(token: &str, jwt: &JwtKeys) -> Result<Self, AppError> {
        let verified = jwt.verify(token).map_err(|e| {
            tracing::debug!(error = %e, "access token rejected");
            if e.is_expiry() {
                AppError::TokenExpired
            } else {
                AppError::Unauthenticated
            }
        })?;
        Ok(Viewer {
            user_id: verified.user_id,
            expires_at: verified.expires_at,
            session: verified.session,
        })
    }
}

/// The caller's role in `org` as a checkout's `access` says (`None` for a caller who is
/// not a member, or nobody signed in); `UNAUTHENTICATED` when the session they came
/// with was ended (`logout`, `changePassword`).
pub fn role_in(access: Option<&Access>, org: OrgId) -> AppResult<Option<Role>> {
    match access {
        Some(access) if access.session_ended => Err(AppError::Unauthenticated),
        Some(access) => Ok(access.role_in(org)),
        None => Ok(None),
    }
}
