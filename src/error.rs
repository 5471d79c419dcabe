//! The one error type clients see, and its stable `extensions.code`.
//!
//! Library code returns module errors (`diesel::result::Error`, `SignatureError`...);
//! the API edge converts them into [`AppError`]. `Internal` keeps its detail for the log
//! and shows the client only "internal error" with the request id.
//!
//! `AppError` deliberately does not implement `Display`: async-graphql converts every
//! `Display` type into an error without a code, so leaving it out lets
//! [`crate::graphql`] convert `AppError` itself, always with its `extensions.code`.

/// An error as reported to an API client.
#[derive(Debug)]
pub enum AppError {
    /// No valid credentials (missing or forged token; wrong password).
    Unauthenticated,
    /// The access token was genuine but has expired: refresh it (a client should not
    /// send the user back to the sign-in page).
    TokenExpired,
    /// Authenticated, but the caller's role does not allow this.
    Forbidden,
    /// The thing does not exist, or belongs to an org the caller cannot see (the two are
    /// indistinguishable on purpose).
    NotFound,
    /// The request is invalid; the message says why and is safe to show.
    BadUserInput(String),
    /// Too many attempts; retry later.
    RateLimited(String),
    /// Too many attempts; the next one may succeed after `retry_after` (sent to clients
    /// as `extensions.retryAfter` in whole seconds).
    RetryLater {
        /// Safe to show.
        message: String,
        /// How long to wait.
        retry_after: std::time::Duration,
    },
    /// A live stream cannot resume from the given position (its events were pruned):
    /// refetch, then subscribe from now.
    ResyncRequired,
    /// A bug or an infrastructure failure; details go to the log only.
    Internal(anyhow::Error),
}

impl AppError {
    /// The `extensions.code` of this error.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthenticated => "UNAUTHENTICATED",
            AppError::TokenExpired => "TOKEN_EXPIRED",
            AppError::Forbidden => "FORBIDDEN",
            AppError::NotFound => "NOT_FOUND",
            AppError::BadUserInput(_) => "BAD_USER_INPUT",
            AppError::RateLimited(_) | AppError::RetryLater { .. } => "RATE_LIMITED",
            AppError::ResyncRequired => "RESYNC_REQUIRED",
            AppError::Internal(_) => "INTERNAL",
        }
    }

    /// The message safe to show a client.
    pub fn message(&self) -> &str {
        match self {
            AppError::Unauthenticated => "not authenticated",
            AppError::TokenExpired => "the access token has expired; refresh it",
            AppError::Forbidden => "forbidden",
            AppError::NotFound => "not found",
            AppError::BadUserInput(m) | AppError::RateLimited(m) => m,
            AppError::RetryLater { message, .. } => message,
            AppError::Internal(_) => "internal error",
            AppError::ResyncRequired => {
                "events after this position are no longer kept; refetch and subscribe again"
            }
        }
    }

    /// Shorthand for [`AppError::BadUserInput`].
    pub fn bad_input(message: impl Into<String>) -> Self {
        AppError::BadUserInput(message.into())
    }

    /// Wraps any failure as [`AppError::Internal`].
    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        AppError::Internal(error.into())
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> Self {
        match e {
            diesel::result::Error::NotFound => AppError::NotFound,
            other => AppError::Internal(other.into()),
        }
    }
}

impl From<crate::db::PoolError> for AppError {
    fn from(e: crate::db::PoolError) -> Self {
        AppError::Internal(e.into())
    }
}

/// Result alias of API-facing code.
pub type AppResult<T> = Result<T, AppError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_its_code() {
        assert_eq!(AppError::Unauthenticated.code(), "UNAUTHENTICATED");
        assert_eq!(AppError::TokenExpired.code(), "TOKEN_EXPIRED");
        assert_eq!(AppError::Forbidden.code(), "FORBIDDEN");
        assert_eq!(AppError::NotFound.code(), "NOT_FOUND");
        assert_eq!(AppError::bad_input("x").code(), "BAD_USER_INPUT");
        assert_eq!(AppError::RateLimited("x".into()).code(), "RATE_LIMITED");
        assert_eq!(
            AppError::internal(anyhow::anyhow!("boom")).code(),
            "INTERNAL"
        );
    }

    #[test]
    fn database_errors_never_show_their_detail() {
        let not_found: AppError = diesel::result::Error::NotFound.into();
        assert_eq!(not_found.code(), "NOT_FOUND");
        let other: AppError = diesel::result::Error::RollbackTransaction.into();
        assert_eq!(other.message(), "internal error");
    }
}
