//! [`AppError`] -> GraphQL error with `extensions.code`, and the final pass over a
//! response that gives every framework error (parse, validation, limits) a code and
//! tags internal errors with the request id.

use async_graphql::{ErrorExtensionValues, Value};

use crate::error::AppError;

impl From<AppError> for async_graphql::Error {
    fn from(e: AppError) -> Self {
        if let AppError::Internal(detail) = &e {
            // Logged once, here, with the full chain; the client sees no detail.
            tracing::error!(error = ?detail, "internal error");
        }
        let mut extensions = ErrorExtensionValues::default();
        extensions.set("code", e.code());
        if let AppError::RetryLater { retry_after, .. } = &e {
            // Whole seconds, rounded up: retrying at exactly this time succeeds.
            let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            extensions.set("retryAfter", seconds);
        }
        async_graphql::Error {
            message: e.message().to_owned(),
            source: None,
            extensions: Some(extensions),
        }
    }
}

/// Code given to errors raised by async-graphql itself (syntax, validation, limits,
/// argument coercion): all are client mistakes.
const FRAMEWORK_ERROR_CODE: &str = "BAD_USER_INPUT";

/// Gives every error in `response` a code and adds the request id to internal ones.
pub fn finish_response(response: &mut async_graphql::Response, request_id: &str) {
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        match extensions.get("code") {
            None => extensions.set("code", FRAMEWORK_ERROR_CODE),
            Some(Value::String(code)) if code == "INTERNAL" => {
                extensions.set("requestId", request_id);
            }
            Some(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_errors_carry_their_code_and_safe_message() {
        let e: async_graphql::Error =
            AppError::internal(anyhow::anyhow!("relation \"tickets\" broke")).into();
        assert_eq!(e.message, "internal error");
        let code = e.extensions.as_ref().and_then(|x| x.get("code")).cloned();
        assert_eq!(code, Some(Value::from("INTERNAL")));
        let e: async_graphql::Error = AppError::RetryLater {
            message: "wait".into(),
            retry_after: std::time::Duration::from_millis(1500),
        }
        .into();
        let retry = e
            .extensions
            .as_ref()
            .and_then(|x| x.get("retryAfter"))
            .cloned();
        assert_eq!(retry, Some(Value::from(2)));
        let e: async_graphql::Error = AppError::Forbidden.into();
        let code = e.extensions.as_ref().and_then(|x| x.get("code")).cloned();
        assert_eq!(code, Some(Value::from("FORBIDDEN")));
    }
}
