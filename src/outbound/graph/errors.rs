//! Meta's error-code table: [`classify`] turns one Graph API answer (status, headers, body)
//! into a [`Sent`] or a [`GraphError`] saying whether to retry, give up with a sentence for
//! the agent, or reconcile before any resend. Pure: no I/O.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde_json::Value;

use super::request::{Sent, SuccessShape};

/// Header carrying Meta's business-use-case rate-limit usage (JSON).
const BUSINESS_USE_CASE_USAGE: &str = "x-business-use-case-usage";

/// `code` of a [`GraphError::Permanent`] for a request refused locally, before it reached
/// Meta (malformed id, base URL or access token). Meta never uses code 0.
pub const LOCAL_ERROR_CODE: i64 = 0;

/// How the message of a [`GraphError::Transient`] starts when the request never reached
/// Meta because its host could not be reached (DNS, refused connection, no route).
pub const UNREACHABLE: &str = "could not connect to Meta";

/// Meta's error, classified for the outbound worker.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GraphError {
    /// Worth retrying later with backoff: connection failures, HTTP 5xx without a permanent code, codes 1, 2, 4, 17, 32, 341, 613, 1200, 80001-80014, WhatsApp 130429, 131000, 131016, 131056, 131057, 131048, 131049; also HTTP 429. `retry_after` from a Retry-After header or from `estimated_time_to_regain_access` (minutes) in the `X-Business-Use-Case-Usage` header JSON when present.
    #[error("temporary Graph API failure: {message}")]
    Transient {
        /// Meta's error code, when Meta answered with one.
        code: Option<i64>,
        /// What went wrong (Meta's explanation or the transport error).
        message: String,
        /// How long Meta asks us to wait, when it says so (the larger of both headers).
        retry_after: Option<Duration>,
    },
    /// Will fail again: do not retry. `reason` is a short human-readable sentence for the agent.
    #[error("Graph API refused the send (code {code}): {reason}")]
    Permanent {
        /// Meta's error code; the HTTP status when Meta gave none; [`LOCAL_ERROR_CODE`]
        /// when the request never left.
        code: i64,
        /// Meta's `error_subcode`, if any.
        subcode: Option<i64>,
        /// The family of the failure, for the worker's handling.
        kind: PermanentKind,
        /// A short sentence for the agent.
        reason: String,
    },
    /// Meta may or may not have delivered it (e.g. 2xx without a message id, or a body we cannot parse after a 2xx): the worker must reconcile with echoes/statuses before any resend.
    #[error("Graph API outcome unknown: {message}")]
    Ambiguous {
        /// What was odd about the answer.
        message: String,
    },
}

/// The family of a [`GraphError::Permanent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PermanentKind {
    /// The channel's token is expired, revoked or invalid (190, 102): reconnect the channel.
    TokenInvalid,
    /// Outside the messaging window (10 with 2018278 / 2534022 / 2018065 / 2018108, 131047, 470).
    OutsideWindow,
    /// The recipient can't be reached (551, 131026).
    UserUnavailable,
    /// The request itself is wrong (100, 3, 131008, 131009, 131021, 131051, 131052, 131053,
    /// 131062, 132000-132069, 133010).
    InvalidRequest,
    /// A permission is missing or was revoked (10 otherwise, 200-299).
    Permission,
    /// The account is blocked, restricted or locked (368, 131031, 131042, 10/1893063).
    Blocked,
    /// Anything else.
    Other,
}

/// Classifies one Graph API answer: a 2xx carrying the id `shape` expects is a [`Sent`];
/// everything else is a [`GraphError`].
///
/// `headers` are read for `Retry-After` and `X-Business-Use-Case-Usage` on transient errors.
pub fn classify(
    shape: SuccessShape,
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Sent, GraphError> {
    match refusal(status, headers, body) {
        Some(error) => Err(error),
        None => success(shape, status, body),
    }
}

/// Classifies the answer to a read (a GET of a node's fields): its JSON, or why there is
/// none.
pub fn classify_read(status: u16, headers: &HeaderMap, body: &[u8]) -> Result<Value, GraphError> {
    if let Some(error) = refusal(status, headers, body) {
        return Err(error);
    }
    serde_json::from_slice(body).map_err(|_| {
        local_error(
            PermanentKind::Other,
            "Meta's answer could not be read as JSON.",
        )
    })
}

/// The error an answer carries, if it is one: Meta's error JSON (even with a 2xx), or a
/// failing HTTP status.
fn refusal(status: u16, headers: &HeaderMap, body: &[u8]) -> Option<GraphError> {
    let error = parse_meta_error(body);
    if is_success(status) {
        return match error {
            Some(error) if error.code.is_some() => {
                Some(classify_meta_error(status, headers, &error))
            }
            _ => None,
        };
    }
    Some(match error {
        Some(error) if error.code.is_some() => classify_meta_error(status, headers, &error),
        error => classify_status(status, headers, error.map(|error| error.text)),
    })
}

/// The `error` object of a Graph API error body, reduced to what classification needs.
#[derive(Debug, Default)]
struct MetaError {
    code: Option<i64>,
    subcode: Option<i64>,
    is_transient: bool,
    /// The explanation for humans: `error_user_msg`, else `error_data.details`, else `message`.
    text: String,
    error_type: Option<String>,
    fbtrace_id: Option<String>,
}

/// Reads `{"error":{..}}`; `None` when the body is not Meta's error JSON.
fn parse_meta_error(body: &[u8]) -> Option<MetaError> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let error = value.get("error")?.as_object()?;
    let string = |key: &str| {
        error
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|text| !text.is_empty())
            .map(str::to_owned)
    };
    let text = string("error_user_msg")
        .or_else(|| error.get("error_data").and_then(error_data_details))
        .or_else(|| string("message").map(|message| strip_code_prefix(&message).to_owned()))
        .unwrap_or_default();
    Some(MetaError {
        code: error.get("code").and_then(lenient_i64),
        subcode: error.get("error_subcode").and_then(lenient_i64),
        is_transient: error
            .get("is_transient")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        text,
        error_type: string("type"),
        fbtrace_id: string("fbtrace_id"),
    })
}

/// `error_data.details`; Meta sometimes sends `error_data` as a JSON-encoded string.
fn error_data_details(error_data: &Value) -> Option<String> {
    let details = match error_data {
        Value::Object(map) => map.get("details")?.as_str()?.trim().to_owned(),
        Value::String(encoded) => {
            let decoded: Value = serde_json::from_str(encoded).ok()?;
            decoded.get("details")?.as_str()?.trim().to_owned()
        }
        _ => return None,
    };
    (!details.is_empty()).then_some(details)
}

/// A number, or a string holding one (Meta is not always consistent).
fn lenient_i64(value: &Value) -> Option<i64> {
    match value {
        Value::Number(number) => number.as_i64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

/// "(#100) Invalid parameter" -> "Invalid parameter".
fn strip_code_prefix(message: &str) -> &str {
    message
        .strip_prefix("(#")
        .and_then(|rest| rest.split_once(')'))
        .filter(|(code, _)| !code.is_empty() && code.bytes().all(|b| b.is_ascii_digit()))
        .map_or(message, |(_, rest)| rest.trim_start())
}

/// Classifies an error body that carries a `code`.
fn classify_meta_error(status: u16, headers: &HeaderMap, error: &MetaError) -> GraphError {
    let code = error.code.unwrap_or(i64::from(status));
    tracing::debug!(
        status,
        code,
        subcode = error.subcode,
        error_type = error.error_type.as_deref().unwrap_or(""),
        is_transient = error.is_transient,
        fbtrace_id = error.fbtrace_id.as_deref().unwrap_or(""),
        "Graph API returned an error"
    );
    if let Some((kind, reason)) = permanent_code(code, error.subcode, &error.text) {
        return GraphError::Permanent {
            code,
            subcode: error.subcode,
            kind,
            reason,
        };
    }
    if is_transient_code(code) || error.is_transient || status >= 500 || status == 429 {
        return GraphError::Transient {
            code: Some(code),
            message: describe(&error.text, status),
            retry_after: retry_after(headers, Utc::now()),
        };
    }
    GraphError::Permanent {
        code,
        subcode: error.subcode,
        kind: PermanentKind::Other,
        reason: refused(&error.text, status),
    }
}

/// Classifies an error answer without Meta's error JSON (or without a `code` in it).
fn classify_status(status: u16, headers: &HeaderMap, text: Option<String>) -> GraphError {
    let text = text.unwrap_or_default();
    tracing::debug!(
        status,
        "Graph API returned an error without a Meta error code"
    );
    if status >= 500 || status == 429 {
        GraphError::Transient {
            code: None,
            message: describe(&text, status),
            retry_after: retry_after(headers, Utc::now()),
        }
    } else if (400..500).contains(&status) {
        GraphError::Permanent {
            code: i64::from(status),
            subcode: None,
            kind: PermanentKind::Other,
            reason: refused(&text, status),
        }
    } else {
        GraphError::Permanent {
            code: i64::from(status),
            subcode: None,
            kind: PermanentKind::Other,
            reason: format!("Meta answered with an unexpected HTTP status {status}."),
        }
    }
}

/// Meta's explanation, or the HTTP status when it gave none.
fn describe(text: &str, status: u16) -> String {
    if text.is_empty() {
        format!("Meta answered HTTP {status}")
    } else {
        text.to_owned()
    }
}

/// The agent-facing sentence for a refusal with an unknown code.
fn refused(text: &str, status: u16) -> String {
    if text.is_empty() {
        format!("Meta refused the message (HTTP {status}).")
    } else {
        format!("Meta refused the message: {text}")
    }
}

/// Codes worth retrying with backoff.
fn is_transient_code(code: i64) -> bool {
    matches!(
        code,
        1 | 2 | 4 | 17 | 32 | 341 | 613 | 1200 | 80001
            ..=80014 | 130429 | 131000 | 131016 | 131048 | 131049 | 131056 | 131057
    )
}

/// Known-permanent codes with the sentence shown to the agent; `None` for other codes.
fn permanent_code(code: i64, subcode: Option<i64>, text: &str) -> Option<(PermanentKind, String)> {
    use PermanentKind as K;
    let outside_window = "This conversation is outside Meta's 24-hour messaging window; wait for the \
                          customer to write again, or reply within 7 days with the HUMAN_AGENT tag \
                          if the channel is approved for it.";
    let (kind, reason) = match (code, subcode) {
        (190, _) => (
            K::TokenInvalid,
            "The channel's access token expired or was revoked; an admin must reconnect the channel."
                .to_owned(),
        ),
        (102, _) => (
            K::TokenInvalid,
            "The channel's session with Meta is no longer valid; an admin must reconnect the channel."
                .to_owned(),
        ),
        (10, Some(2018278 | 2534022 | 2018065)) => (K::OutsideWindow, outside_window.to_owned()),
        (10, Some(2018108)) => (
            K::OutsideWindow,
            format!("This person can't receive messages right now. {outside_window}"),
        ),
        (10, Some(1893063)) => (
            K::Blocked,
            "Meta has temporarily restricted sending from this account because of its policies."
                .to_owned(),
        ),
        (200, Some(2534041)) => (
            K::Permission,
            "The Instagram account has turned off access to messages for connected tools; the \
             owner must allow it in Instagram's settings."
                .to_owned(),
        ),
        (10 | 200..=299, _) => (
            K::Permission,
            "The channel is missing a Meta permission needed to send this message; an admin must \
             reconnect the channel or review its permissions."
                .to_owned(),
        ),
        (131047 | 470, _) => (
            K::OutsideWindow,
            "More than 24 hours have passed since the customer last wrote; WhatsApp only allows \
             template messages now."
                .to_owned(),
        ),
        (551, _) => (
            K::UserUnavailable,
            "This person isn't available right now.".to_owned(),
        ),
        (131026, _) => (
            K::UserUnavailable,
            "WhatsApp could not deliver this message: the number may not be on WhatsApp, use an \
             outdated app, or have blocked the business."
                .to_owned(),
        ),
        (100 | 131008 | 131009, _) => (
            K::InvalidRequest,
            format!("Meta rejected the request as invalid: {text}"),
        ),
        (3, _) => (
            K::InvalidRequest,
            "This channel isn't allowed to use this messaging feature.".to_owned(),
        ),
        (131021, _) => (
            K::InvalidRequest,
            "The recipient is the business's own phone number; WhatsApp can't send a message to \
             itself."
                .to_owned(),
        ),
        (131051, _) => (
            K::InvalidRequest,
            "WhatsApp doesn't support this type of message.".to_owned(),
        ),
        (131052 | 131053, _) => (
            K::InvalidRequest,
            format!("WhatsApp could not process the attachment: {text}"),
        ),
        (131062, _) => (
            K::InvalidRequest,
            "WhatsApp can't send an authentication template to this kind of recipient id."
                .to_owned(),
        ),
        (132000..=132069, _) => (
            K::InvalidRequest,
            format!("WhatsApp rejected the message template: {text}"),
        ),
        (133010, _) => (
            K::InvalidRequest,
            "The business phone number isn't registered with the WhatsApp Cloud API; an admin \
             must register it."
                .to_owned(),
        ),
        (368, _) => (
            K::Blocked,
            "Meta has temporarily blocked this account from sending messages because of a policy \
             violation."
                .to_owned(),
        ),
        (131031, _) => (
            K::Blocked,
            "The WhatsApp Business account is locked; an admin must resolve it in WhatsApp \
             Manager."
                .to_owned(),
        ),
        (131042, _) => (
            K::Blocked,
            "WhatsApp refused the message because of a payment or eligibility problem with the \
             business account; an admin must fix it in WhatsApp Manager."
                .to_owned(),
        ),
        (131050, _) => (
            K::Other,
            "This customer has stopped receiving marketing messages from the business.".to_owned(),
        ),
        _ => return None,
    };
    Some((kind, reason))
}

/// How long Meta asks us to wait: the larger of `Retry-After` (seconds or an HTTP date) and
/// `estimated_time_to_regain_access` (minutes) in `X-Business-Use-Case-Usage`.
fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let header = headers
        .get(RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| parse_retry_after(value, now));
    let usage = headers
        .get_all(BUSINESS_USE_CASE_USAGE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|value| serde_json::from_str::<Value>(value).ok())
        .filter_map(|value| max_regain_minutes(&value))
        .max()
        .filter(|minutes| *minutes > 0)
        .map(|minutes| Duration::from_secs(minutes.saturating_mul(60)));
    header.max(usage)
}

/// `Retry-After: 120` or `Retry-After: Wed, 21 Oct 2026 07:28:00 GMT`.
fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// The largest `estimated_time_to_regain_access` anywhere in the usage JSON.
fn max_regain_minutes(value: &Value) -> Option<u64> {
    match value {
        Value::Object(map) => map
            .iter()
            .filter_map(|(key, value)| {
                if key == "estimated_time_to_regain_access" {
                    value
                        .as_u64()
                        .or_else(|| value.as_f64().filter(|m| *m > 0.0).map(|m| m.ceil() as u64))
                } else {
                    max_regain_minutes(value)
                }
            })
            .max(),
        Value::Array(items) => items.iter().filter_map(max_regain_minutes).max(),
        _ => None,
    }
}

/// Reads the created message's id out of a 2xx body.
fn success(shape: SuccessShape, status: u16, body: &[u8]) -> Result<Sent, GraphError> {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return Err(GraphError::Ambiguous {
            message: format!("Meta answered HTTP {status} with a body that is not JSON"),
        });
    };
    let id = match shape {
        SuccessShape::SendApi => value.get("message_id"),
        SuccessShape::CommentReply => value.get("id"),
        SuccessShape::WhatsApp => value
            .get("messages")
            .and_then(|messages| messages.get(0))
            .and_then(|message| message.get("id")),
    };
    let id = match id {
        Some(Value::String(id)) => id.trim().to_owned(),
        Some(Value::Number(id)) => id.to_string(),
        _ => String::new(),
    };
    if id.is_empty() {
        return Err(GraphError::Ambiguous {
            message: format!("Meta answered HTTP {status} without a message id"),
        });
    }
    tracing::debug!(status, external_id = %id, "Graph API accepted the send");
    Ok(Sent { external_id: id })
}

/// A permanent error for a request that never left this process.
pub(super) fn local_error(kind: PermanentKind, reason: &str) -> GraphError {
    GraphError::Permanent {
        code: LOCAL_ERROR_CODE,
        subcode: None,
        kind,
        reason: reason.to_owned(),
    }
}

/// Whether an HTTP status is 2xx.
pub(super) fn is_success(status: u16) -> bool {
    (200..300).contains(&status)
}

#[cfg(test)]
mod tests {
    use super::*;

    use reqwest::header::HeaderValue;
    use serde_json::json;

    fn no_headers() -> HeaderMap {
        HeaderMap::new()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn error_body(code: i64, subcode: Option<i64>, is_transient: Option<bool>) -> String {
        let mut error = json!({
            "message": format!("(#{code}) Something about code {code}"),
            "type": "OAuthException",
            "code": code,
            "fbtrace_id": "ZzTestTrace01",
        });
        if let Some(subcode) = subcode {
            error["error_subcode"] = json!(subcode);
        }
        if let Some(is_transient) = is_transient {
            error["is_transient"] = json!(is_transient);
        }
        json!({ "error": error }).to_string()
    }

    fn classify_error(status: u16, headers: &HeaderMap, body: &str) -> GraphError {
        classify(SuccessShape::SendApi, status, headers, body.as_bytes()).unwrap_err()
    }

    fn permanent_kind(err: &GraphError) -> Option<PermanentKind> {
        match err {
            GraphError::Permanent { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    fn reason(err: &GraphError) -> &str {
        match err {
            GraphError::Permanent { reason, .. } => reason,
            other => panic!("expected Permanent, got {other:?}"),
        }
    }

    #[test]
    fn transient_codes_are_retryable_whatever_the_http_status() {
        let codes = [
            1, 2, 4, 17, 32, 341, 613, 1200, 80001, 80002, 80006, 80007, 80014, 130429, 131000,
            131016, 131048, 131049, 131056, 131057,
        ];
        for code in codes {
            for status in [400, 403, 500, 503] {
                let err = classify_error(status, &no_headers(), &error_body(code, None, None));
                assert!(
                    matches!(err, GraphError::Transient { code: Some(c), .. } if c == code),
                    "code {code} status {status}: {err:?}"
                );
            }
        }
    }

    #[test]
    fn permanent_codes_map_to_their_kind_even_on_5xx_or_is_transient() {
        use PermanentKind as K;
        let table: &[(i64, Option<i64>, PermanentKind)] = &[
            (190, Some(463), K::TokenInvalid),
            (190, Some(460), K::TokenInvalid),
            (190, None, K::TokenInvalid),
            (102, None, K::TokenInvalid),
            (10, Some(2018278), K::OutsideWindow),
            (10, Some(2534022), K::OutsideWindow),
            (10, Some(2018065), K::OutsideWindow),
            (10, Some(2018108), K::OutsideWindow),
            (131047, None, K::OutsideWindow),
            (470, None, K::OutsideWindow),
            (551, Some(1545041), K::UserUnavailable),
            (131026, None, K::UserUnavailable),
            (100, Some(2018001), K::InvalidRequest),
            (3, None, K::InvalidRequest),
            (131008, None, K::InvalidRequest),
            (131009, None, K::InvalidRequest),
            (131021, None, K::InvalidRequest),
            (131051, None, K::InvalidRequest),
            (132000, None, K::InvalidRequest),
            (132012, None, K::InvalidRequest),
            (132069, None, K::InvalidRequest),
            (133010, None, K::InvalidRequest),
            (10, None, K::Permission),
            (10, Some(1234), K::Permission),
            (200, None, K::Permission),
            (200, Some(2534041), K::Permission),
            (230, None, K::Permission),
            (299, None, K::Permission),
            (368, None, K::Blocked),
            (131031, None, K::Blocked),
            (131042, None, K::Blocked),
            (10, Some(1893063), K::Blocked),
        ];
        for &(code, subcode, kind) in table {
            for (status, is_transient) in [(400, None), (500, None), (400, Some(true))] {
                let err = classify_error(
                    status,
                    &no_headers(),
                    &error_body(code, subcode, is_transient),
                );
                assert_eq!(
                    err,
                    GraphError::Permanent {
                        code,
                        subcode,
                        kind,
                        reason: reason(&err).to_owned(),
                    },
                    "code {code}/{subcode:?} status {status} is_transient {is_transient:?}"
                );
                assert!(!reason(&err).is_empty());
            }
        }
    }

    #[test]
    fn unknown_code_with_is_transient_true_is_transient() {
        let err = classify_error(400, &no_headers(), &error_body(9007, None, Some(true)));
        assert!(
            matches!(
                err,
                GraphError::Transient {
                    code: Some(9007),
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn unknown_code_on_5xx_is_transient() {
        let err = classify_error(503, &no_headers(), &error_body(9007, None, None));
        assert!(
            matches!(
                err,
                GraphError::Transient {
                    code: Some(9007),
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn unknown_code_on_4xx_is_permanent_other_quoting_meta() {
        let err = classify_error(400, &no_headers(), &error_body(9007, Some(5), Some(false)));
        assert_eq!(
            err,
            GraphError::Permanent {
                code: 9007,
                subcode: Some(5),
                kind: PermanentKind::Other,
                reason: "Meta refused the message: Something about code 9007".to_owned(),
            }
        );
    }

    #[test]
    fn expired_token_190_463_asks_an_admin_to_reconnect() {
        let err = classify_error(400, &no_headers(), fixture!("error_token_expired.json"));
        assert_eq!(
            err,
            GraphError::Permanent {
                code: 190,
                subcode: Some(463),
                kind: PermanentKind::TokenInvalid,
                reason: "The channel's access token expired or was revoked; an admin must \
                         reconnect the channel."
                    .to_owned(),
            }
        );
    }

    #[test]
    fn instagram_outside_window_mentions_human_agent() {
        let err = classify_error(
            400,
            &no_headers(),
            fixture!("error_outside_window_instagram.json"),
        );
        assert_eq!(permanent_kind(&err), Some(PermanentKind::OutsideWindow));
        assert!(matches!(
            err,
            GraphError::Permanent {
                code: 10,
                subcode: Some(2534022),
                ..
            }
        ));
        assert!(reason(&err).contains("24-hour"), "{err}");
        assert!(reason(&err).contains("HUMAN_AGENT"), "{err}");
    }

    #[test]
    fn messenger_outside_window_mentions_human_agent() {
        let err = classify_error(
            400,
            &no_headers(),
            fixture!("error_outside_window_messenger.json"),
        );
        assert_eq!(permanent_kind(&err), Some(PermanentKind::OutsideWindow));
        assert!(matches!(
            err,
            GraphError::Permanent {
                code: 10,
                subcode: Some(2018278),
                ..
            }
        ));
        assert!(reason(&err).contains("HUMAN_AGENT"), "{err}");
    }

    #[test]
    fn user_unavailable_551_says_so() {
        let err = classify_error(400, &no_headers(), fixture!("error_user_unavailable.json"));
        assert_eq!(permanent_kind(&err), Some(PermanentKind::UserUnavailable));
        assert_eq!(reason(&err), "This person isn't available right now.");
    }

    #[test]
    fn invalid_parameter_100_quotes_whatsapp_details() {
        let err = classify_error(
            400,
            &no_headers(),
            fixture!("whatsapp_error_invalid_parameter.json"),
        );
        assert_eq!(
            err,
            GraphError::Permanent {
                code: 100,
                subcode: None,
                kind: PermanentKind::InvalidRequest,
                reason: "Meta rejected the request as invalid: Parameter 'to' is not a valid \
                         phone number."
                    .to_owned(),
            }
        );
    }

    #[test]
    fn human_text_prefers_user_msg_then_details_then_message_without_code_prefix() {
        let all = json!({"error": {
            "message": "(#100) Raw", "code": 100, "error_user_msg": "For users",
            "error_data": {"details": "Details"}
        }})
        .to_string();
        assert_eq!(
            reason(&classify_error(400, &no_headers(), &all)),
            "Meta rejected the request as invalid: For users"
        );
        let details = json!({"error": {
            "message": "(#100) Raw", "code": 100, "error_data": {"details": "Details"}
        }})
        .to_string();
        assert_eq!(
            reason(&classify_error(400, &no_headers(), &details)),
            "Meta rejected the request as invalid: Details"
        );
        let encoded = json!({"error": {
            "message": "(#100) Raw", "code": 100,
            "error_data": "{\"details\":\"Encoded details\"}"
        }})
        .to_string();
        assert_eq!(
            reason(&classify_error(400, &no_headers(), &encoded)),
            "Meta rejected the request as invalid: Encoded details"
        );
        let message = json!({"error": {"message": "(#100) Raw", "code": 100}}).to_string();
        assert_eq!(
            reason(&classify_error(400, &no_headers(), &message)),
            "Meta rejected the request as invalid: Raw"
        );
    }

    #[test]
    fn whatsapp_reengagement_131047_explains_template_only() {
        let err = classify_error(
            400,
            &no_headers(),
            fixture!("whatsapp_error_reengagement.json"),
        );
        assert_eq!(
            err,
            GraphError::Permanent {
                code: 131047,
                subcode: None,
                kind: PermanentKind::OutsideWindow,
                reason: "More than 24 hours have passed since the customer last wrote; WhatsApp \
                         only allows template messages now."
                    .to_owned(),
            }
        );
    }

    #[test]
    fn whatsapp_pair_rate_limit_131056_is_transient_with_details() {
        let err = classify_error(
            400,
            &no_headers(),
            fixture!("whatsapp_error_pair_rate_limit.json"),
        );
        let GraphError::Transient {
            code,
            message,
            retry_after,
        } = err
        else {
            panic!("expected Transient, got {err:?}");
        };
        assert_eq!(code, Some(131056));
        assert!(message.starts_with("Message failed to send because there were too many"));
        assert_eq!(retry_after, None);
    }

    #[test]
    fn whatsapp_throughput_130429_is_transient() {
        let err = classify_error(
            400,
            &no_headers(),
            fixture!("whatsapp_error_throughput.json"),
        );
        assert!(
            matches!(
                err,
                GraphError::Transient {
                    code: Some(130429),
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn instagram_rate_limit_613_and_service_error_2_are_transient() {
        let err = classify_error(400, &no_headers(), fixture!("error_rate_limited.json"));
        assert!(
            matches!(
                err,
                GraphError::Transient {
                    code: Some(613),
                    ..
                }
            ),
            "{err:?}"
        );
        let err = classify_error(
            500,
            &no_headers(),
            fixture!("error_service_unavailable.json"),
        );
        assert!(
            matches!(err, GraphError::Transient { code: Some(2), .. }),
            "{err:?}"
        );
    }

    #[test]
    fn waba_rate_limit_80007_waits_for_estimated_time_to_regain_access() {
        let usage = r#"{"102290129340398":[{"type":"whatsapp","call_count":100,"total_cputime":12,"total_time":30,"estimated_time_to_regain_access":3}]}"#;
        let err = classify_error(
            400,
            &headers(&[("x-business-use-case-usage", usage)]),
            fixture!("whatsapp_error_waba_rate_limit.json"),
        );
        assert_eq!(
            err,
            GraphError::Transient {
                code: Some(80007),
                message: "There have been too many calls to this WhatsApp Business account."
                    .to_owned(),
                retry_after: Some(Duration::from_secs(180)),
            }
        );
    }

    #[test]
    fn zero_estimated_time_to_regain_access_gives_no_retry_after() {
        let usage =
            r#"{"1":[{"type":"messenger","call_count":10,"estimated_time_to_regain_access":0}]}"#;
        let err = classify_error(
            400,
            &headers(&[("x-business-use-case-usage", usage)]),
            &error_body(4, None, None),
        );
        assert!(
            matches!(
                err,
                GraphError::Transient {
                    retry_after: None,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn retry_after_header_in_seconds_is_honoured() {
        let err = classify_error(
            400,
            &headers(&[("retry-after", "30")]),
            &error_body(613, None, Some(true)),
        );
        assert!(
            matches!(err, GraphError::Transient { retry_after: Some(d), .. } if d == Duration::from_secs(30)),
            "{err:?}"
        );
    }

    #[test]
    fn retry_after_takes_the_longer_of_both_headers() {
        let usage = r#"{"7":[{"type":"instagram","estimated_time_to_regain_access":2}]}"#;
        let map = headers(&[("retry-after", "30"), ("x-business-use-case-usage", usage)]);
        assert_eq!(
            retry_after(&map, Utc::now()),
            Some(Duration::from_secs(120))
        );
        let map = headers(&[("retry-after", "600"), ("x-business-use-case-usage", usage)]);
        assert_eq!(
            retry_after(&map, Utc::now()),
            Some(Duration::from_secs(600))
        );
    }

    #[test]
    fn retry_after_http_date_counts_from_now_and_past_dates_mean_now() {
        let now = DateTime::parse_from_rfc3339("2026-03-04T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            parse_retry_after("Wed, 04 Mar 2026 10:01:30 GMT", now),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            parse_retry_after("Wed, 04 Mar 2026 09:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn non_json_502_is_transient_without_code() {
        let err = classify_error(502, &no_headers(), "<html><body>Bad Gateway</body></html>");
        assert_eq!(
            err,
            GraphError::Transient {
                code: None,
                message: "Meta answered HTTP 502".to_owned(),
                retry_after: None,
            }
        );
    }

    #[test]
    fn non_json_429_is_transient_with_retry_after() {
        let err = classify_error(429, &headers(&[("retry-after", "7")]), "slow down");
        assert_eq!(
            err,
            GraphError::Transient {
                code: None,
                message: "Meta answered HTTP 429".to_owned(),
                retry_after: Some(Duration::from_secs(7)),
            }
        );
    }

    #[test]
    fn non_json_400_is_permanent_with_the_http_status_as_code() {
        let err = classify_error(400, &no_headers(), "Bad Request");
        assert_eq!(
            err,
            GraphError::Permanent {
                code: 400,
                subcode: None,
                kind: PermanentKind::Other,
                reason: "Meta refused the message (HTTP 400).".to_owned(),
            }
        );
    }

    #[test]
    fn error_json_without_code_falls_back_to_the_http_status() {
        let body = json!({"error": {"message": "Unsupported post request."}}).to_string();
        assert_eq!(
            classify_error(404, &no_headers(), &body),
            GraphError::Permanent {
                code: 404,
                subcode: None,
                kind: PermanentKind::Other,
                reason: "Meta refused the message: Unsupported post request.".to_owned(),
            }
        );
        assert!(matches!(
            classify_error(500, &no_headers(), &body),
            GraphError::Transient { code: None, .. }
        ));
    }

    #[test]
    fn success_bodies_yield_the_external_id_for_each_endpoint() {
        let ok = |shape, body: &str| classify(shape, 200, &no_headers(), body.as_bytes());
        assert_eq!(
            ok(SuccessShape::SendApi, fixture!("send_api_success_messenger.json")),
            Ok(Sent {
                external_id: "m_Qz8pLr4Ua1xVt9KdN2wYcE6hJbS0fGmT7iOvX3kRyAuPq5ZlWnD-8sHeCj4MgBo1FtV6rIxKa9YdLw2QzNpE7u".to_owned()
            })
        );
        assert_eq!(
            ok(
                SuccessShape::CommentReply,
                fixture!("comment_reply_success.json")
            ),
            Ok(Sent {
                external_id: "17999120458336021".to_owned()
            })
        );
        assert_eq!(
            ok(
                SuccessShape::WhatsApp,
                fixture!("whatsapp_send_success.json")
            ),
            Ok(Sent {
                external_id: "wamid.HBgLMTU1NTAxMDQ0NzcVAgARGBI4QTdCM0M5RDJFMUYwNDY1QjgA"
                    .to_owned()
            })
        );
    }

    #[test]
    fn success_without_the_expected_id_is_ambiguous() {
        let cases = [
            (SuccessShape::SendApi, r#"{"recipient_id":"123"}"#),
            (SuccessShape::SendApi, r#"{"message_id":""}"#),
            (
                SuccessShape::SendApi,
                fixture!("comment_reply_success.json"),
            ),
            (SuccessShape::CommentReply, r#"{"success":true}"#),
            (
                SuccessShape::WhatsApp,
                r#"{"messaging_product":"whatsapp","messages":[]}"#,
            ),
            (
                SuccessShape::WhatsApp,
                r#"{"messaging_product":"whatsapp"}"#,
            ),
        ];
        for (shape, body) in cases {
            let result = classify(shape, 200, &no_headers(), body.as_bytes());
            assert!(
                matches!(result, Err(GraphError::Ambiguous { .. })),
                "{shape:?} {body}: {result:?}"
            );
        }
    }

    #[test]
    fn success_with_unparseable_body_is_ambiguous() {
        let result = classify(SuccessShape::SendApi, 200, &no_headers(), b"OK");
        assert_eq!(
            result,
            Err(GraphError::Ambiguous {
                message: "Meta answered HTTP 200 with a body that is not JSON".to_owned()
            })
        );
    }

    #[test]
    fn error_json_inside_a_2xx_is_classified_as_an_error() {
        let result = classify(
            SuccessShape::SendApi,
            200,
            &no_headers(),
            error_body(190, None, None).as_bytes(),
        );
        assert!(
            matches!(result, Err(GraphError::Permanent { code: 190, .. })),
            "{result:?}"
        );
    }

    #[test]
    fn unexpected_3xx_is_permanent() {
        let err = classify_error(302, &no_headers(), "");
        assert!(
            matches!(
                err,
                GraphError::Permanent {
                    code: 302,
                    kind: PermanentKind::Other,
                    ..
                }
            ),
            "{err:?}"
        );
    }
}
