//! Authentication: sign-up, sign-in and token refresh, and who is calling ([`viewer`]).
//!
//! Wrong credentials always produce the same `UNAUTHENTICATED` error whether or not the
//! email exists; repeated failures for an email are throttled ([`throttle`]).

pub mod invitations;
pub mod ip_limit;
pub mod jwt;
pub mod opaque_token;
pub mod password;
pub mod refresh;
pub mod throttle;
pub mod viewer;

use chrono::{DateTime, Utc};
use diesel_async::AsyncConnection as _;

use crate::db::enums::Role;
use crate::db::ids::{OrgId, UserId};
use crate::db::scope::Scope;
use crate::db::{Pool, PoolError, PooledConn};
use crate::db::{orgs, users};
use crate::error::{AppError, AppResult};

/// What sign-up, sign-in and refresh need from the application: the database, the
/// access-token keys and the password hasher.
#[derive(Clone, Copy)]
pub struct Auth<'a> {
    pool: &'a Pool,
    jwt: &'a jwt::JwtKeys,
    passwords: &'a password::PasswordHasher,
}

impl<'a> Auth<'a> {
    /// Bundles what the auth operations use.
    pub fn new(
        pool: &'a Pool,
        jwt: &'a jwt::JwtKeys,
        passwords: &'a password::PasswordHasher,
    ) -> Self {
        Auth {
            pool,
            jwt,
            passwords,
        }
    }

    async fn conn(&self) -> Result<PooledConn, PoolError> {
        self.pool.checkout(Scope::System).await
    }

    fn jwt(&self) -> &jwt::JwtKeys {
        self.jwt
    }

    fn passwords(&self) -> &password::PasswordHasher {
        self.passwords
    }
}

/// Tokens handed to a client after sign-up, sign-in or refresh.
#[derive(Debug, Clone)]
pub struct Session {
    /// Short-lived JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// When the access token expires.
    pub access_token_expires_at: DateTime<Utc>,
    /// Opaque refresh token (single use).
    pub refresh_token: String,
    /// The signed-in user.
    pub user: users::User,
}

/// What `signup` needs.
#[derive(Debug, Clone)]
pub struct SignupRequest {
    /// Name of the new org.
    pub org_name: String,
    /// The admin's name.
    pub name: String,
    /// The admin's email.
    pub email: String,
    /// The admin's password.
    pub password: String,
}

/// Creates an org and its first ADMIN in one transaction, and signs them in.
pub async fn signup(app: &Auth<'_>, request: SignupRequest) -> AppResult<(Session, OrgId)> {
    let org_name = non_blank("orgName", &request.org_name)?;
    let name = non_blank("name", &request.name)?;
    let email = normalize_email(&request.email)?;
    check_password(&request.password)?;
    let password_hash = app
        .passwords()
        .hash(request.password)
        .await
        .map_err(AppError::from)?;
    let user = users::User {
        id: UserId::new(),
        email,
        name,
        password_hash,
        created_at: Utc::now(),
    };
    let org = orgs::Org {
        id: OrgId::new(),
        name: org_name,
        created_at: Utc::now(),
    };
    let mut conn = app.conn().await?;
    let (user, refresh_token) = conn
        .transaction(async |conn| {
            if !users::insert(conn, &user).await? {
                return Err(AppError::bad_input(
                    "an account with this email already exists",
                ));
            }
            orgs::insert(conn, &org).await?;
            orgs::add_member(conn, org.id, user.id, Role::Admin).await?;
            let refresh_token = refresh::issue(conn, user.id).await?;
            Ok((user.clone(), refresh_token))
        })
        .await?;
    tracing::info!(org.id = %org.id, user.id = %user.id, "signed up org {}", org.id);
    Ok((session(app, user, refresh_token), org.id))
}

/// Signs in with email and password.
pub async fn login(app: &Auth<'_>, email: &str, password: String) -> AppResult<Session> {
    // Malformed emails get the same answer as wrong passwords.
    let email = normalize_email(email).map_err(|_| AppError::Unauthenticated)?;
    let mut conn = app.conn().await?;
    if let Err(until) = throttle::attempt(&mut conn, &email).await? {
        return Err(throttled(until));
    }
    let user = users::find_by_email(&mut conn, &email).await?;
    // Release the connection while hashing: verification takes tens of milliseconds.
    drop(conn);
    let valid = password.chars().count() <= *password::PASSWORD_LENGTH.end()
        && app
            .passwords()
            .verify(password, user.as_ref().map(|u| u.password_hash.clone()))
            .await
            .map_err(AppError::from)?;
    let mut conn = app.conn().await?;
    match user {
        Some(user) if valid => {
            throttle::record_success(&mut conn, &email).await?;
            let refresh_token = refresh::issue(&mut conn, user.id).await?;
            Ok(session(app, user, refresh_token))
        }
        // The attempt was counted as a failure before the check.
        _ => Err(AppError::Unauthenticated),
    }
}

/// The error of a locked sign-in: when to try again, as `extensions.retryAfter`.
fn throttled(until: DateTime<Utc>) -> AppError {
    let retry_after = (until - Utc::now()).to_std().unwrap_or_default();
    AppError::RetryLater {
        message: format!(
            "too many failed sign-in attempts; try again in {} s",
            retry_after.as_secs().max(1)
        ),
        retry_after,
    }
}

/// Exchanges a refresh token for a new session (rotating the refresh token).
pub async fn refresh_session(app: &Auth<'_>, token: &str) -> AppResult<Session> {
    let mut conn = app.conn().await?;
    let (user_id, refresh_token, family) = match refresh::rotate(&mut conn, token).await {
        Ok(rotated) => rotated,
        Err(refresh::RefreshError::Database(e)) => return Err(e.into()),
        Err(_) => return Err(AppError::Unauthenticated),
    };
    let user = users::find(&mut conn, user_id)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    Ok(session(app, user, (refresh_token, family)))
}

/// Ends sessions: the one the caller's access token names (`caller`), and the one of
/// `refresh_token` when given. Holding a refresh token is enough to end its session (a
/// client whose access token expired can still sign out); a signed-in caller may only
/// name their own.
pub async fn logout(
    app: &Auth<'_>,
    caller: Option<viewer::Viewer>,
    refresh_token: Option<&str>,
) -> AppResult<()> {
    let mut conn = app.conn().await?;
    let named = match refresh_token {
        Some(token) => match refresh::family_of(&mut conn, token).await? {
            Some((owner, family)) if caller.is_none_or(|c| c.user_id == owner) => {
                Some((owner, family))
            }
            Some(_) => {
                return Err(AppError::bad_input(
                    "refreshToken is not one of your sessions",
                ));
            }
            None => return Err(AppError::Unauthenticated),
        },
        None => None,
    };
    let current = caller.and_then(|c| c.session.map(|s| (c.user_id, s)));
    for (user, family) in current.into_iter().chain(named) {
        refresh::revoke(&mut conn, user, family).await?;
        tracing::info!(user.id = %user, "signed out");
    }
    Ok(())
}

/// Changes `user`'s password after checking the current one, and ends every other
/// session (`current`, the session of the caller's access token, stays).
pub async fn change_password(
    app: &Auth<'_>,
    user: UserId,
    current: Option<uuid::Uuid>,
    current_password: String,
    new_password: String,
) -> AppResult<()> {
    check_password(&new_password)?;
    let mut conn = app.conn().await?;
    let row = users::find(&mut conn, user)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    drop(conn);
    let valid = current_password.chars().count() <= *password::PASSWORD_LENGTH.end()
        && app
            .passwords()
            .verify(current_password, Some(row.password_hash))
            .await
            .map_err(AppError::from)?;
    if !valid {
        return Err(AppError::bad_input("the current password is wrong"));
    }
    let hash = app
        .passwords()
        .hash(new_password)
        .await
        .map_err(AppError::from)?;
    let mut conn = app.conn().await?;
    let revoked = conn
        .transaction::<_, diesel::result::Error, _>(async |conn| {
            users::set_password_hash(conn, user, &hash).await?;
            refresh::revoke_others(conn, user, current).await
        })
        .await?;
    tracing::info!(user.id = %user, revoked, "password changed; other sessions ended");
    Ok(())
}

fn session(app: &Auth<'_>, user: users::User, refresh: (String, uuid::Uuid)) -> Session {
    let (refresh_token, family) = refresh;
    let (access_token, access_token_expires_at) = app.jwt().issue_for_session(user.id, family);
    Session {
        access_token,
        access_token_expires_at,
        refresh_token,
        user,
    }
}

/// Trims and lower-cases an email, rejecting anything that cannot be one.
pub fn normalize_email(email: &str) -> AppResult<String> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 320
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(email)
    } else {
        Err(AppError::bad_input("email is not a valid address"))
    }
}

/// Enforces the password length policy.
pub fn check_password(password: &str) -> AppResult<()> {
    let length = password.chars().count();
    if password::PASSWORD_LENGTH.contains(&length) {
        Ok(())
    } else {
        Err(AppError::bad_input(format!(
            "password must be {} to {} characters long",
            password::PASSWORD_LENGTH.start(),
            password::PASSWORD_LENGTH.end()
        )))
    }
}

/// Trims a required text field and caps its length.
pub fn non_blank(field: &str, value: &str) -> AppResult<String> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > 200 {
        Err(AppError::bad_input(format!(
            "{field} must be 1 to 200 characters"
        )))
    } else {
        Ok(value.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(
            normalize_email("  Ana@Example.COM ").unwrap(),
            "ana@example.com"
        );
        for bad in [
            "",
            "ana",
            "@example.com",
            "ana@localhost",
            "a na@example.com",
            "ana@.com",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?} accepted");
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_input_validation_never_panics(email in ".{0,400}", password in ".{0,300}", name in ".{0,300}") {
            if let Ok(normalized) = normalize_email(&email) {
                proptest::prop_assert!(normalized.contains('@') && normalized.len() <= 320);
                proptest::prop_assert_eq!(normalize_email(&normalized).ok(), Some(normalized.clone()));
            }
            let _ = check_password(&password);
            if let Ok(trimmed) = non_blank("name", &name) {
                proptest::prop_assert!(!trimmed.is_empty() && trimmed.chars().count() <= 200);
            }
        }
    }

    #[test]
    fn password_policy_counts_characters() {
        assert!(check_password("1234567").is_err());
        assert!(check_password("12345678").is_ok());
        assert!(check_password(&"é".repeat(256)).is_ok());
        assert!(check_password(&"x".repeat(257)).is_err());
    }
}
