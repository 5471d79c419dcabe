//! Meta Graph API client for agents' outbound replies.
//!
//! One [`GraphClient::send`] call performs exactly one HTTP request to one of:
//!
//! - the Instagram / Messenger Send API, `POST /{version}/{account_id}/messages`
//!   (direct messages and private replies to comments),
//! - the Instagram comment replies edge, `POST /{version}/{comment_id}/replies`,
//! - the WhatsApp Cloud API, `POST /{version}/{phone_number_id}/messages`.
//!
//! The access token travels only in the `Authorization: Bearer` header, never in the URL,
//! and never appears in errors or logs. The answer is classified by the pure function
//! [`classify`] into a [`Sent`] or a [`GraphError`] that tells the outbound worker whether to
//! retry later ([`GraphError::Transient`]), give up with a sentence for the agent
//! ([`GraphError::Permanent`]), or reconcile with echoes / status webhooks before any resend
//! ([`GraphError::Ambiguous`]). This module never retries by itself.

use std::error::Error as StdError;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Url;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue, RETRY_AFTER};
use serde_json::{Map, Value, json};

/// How long establishing a connection to Meta may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a whole request to Meta (connect, send, response body) may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Header carrying Meta's business-use-case rate-limit usage (JSON).
const BUSINESS_USE_CASE_USAGE: &str = "x-business-use-case-usage";

/// Tokens shorter than this are not scrubbed from error texts (they would mangle them).
const MIN_REDACTED_TOKEN_LEN: usize = 8;

/// `code` of a [`GraphError::Permanent`] for a request refused locally, before it reached
/// Meta (malformed id, base URL or access token). Meta never uses code 0.
pub const LOCAL_ERROR_CODE: i64 = 0;

/// How the message of a [`GraphError::Transient`] starts when the request never reached
/// Meta because its host could not be reached (DNS, refused connection, no route).
pub const UNREACHABLE: &str = "could not connect to Meta";

/// HTTP client for the Meta Graph API.
#[derive(Clone)]
pub struct GraphClient {
    http: reqwest::Client,
    base_url: String,
    version: String,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient")
            .field("base_url", &self.base_url)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl GraphClient {
    /// `base_url` like `"https://graph.facebook.com"` (no trailing slash; tests pass a wiremock uri), `version` like `"v25.0"`.
    /// reqwest client with connect timeout 5 s, total timeout 15 s, rustls, a pool per host.
    pub fn new(base_url: &str, version: &str) -> Self {
        Self::with_timeouts(base_url, version, CONNECT_TIMEOUT, REQUEST_TIMEOUT)
    }

    /// Like [`GraphClient::new`] with explicit timeouts (tests use short ones).
    fn with_timeouts(base_url: &str, version: &str, connect: Duration, total: Duration) -> Self {
        // reqwest keeps one idle-connection pool per host by default; redirects are not
        // followed because the Graph API never redirects a POST and a 3xx means "not sent".
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(connect)
            .timeout(total)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_else(|err| {
                tracing::error!(error = %err, "cannot build the Graph API HTTP client; using defaults");
                reqwest::Client::new()
            });
        Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            version: version.to_owned(),
        }
    }

    /// Performs one send; never retries by itself.
    pub async fn send(
        &self,
        access_token: &str,
        request: &SendRequest,
    ) -> Result<Sent, GraphError> {
        self.send_inner(access_token, request)
            .await
            .map_err(|err| redact(err, access_token))
    }

    async fn send_inner(
        &self,
        access_token: &str,
        request: &SendRequest,
    ) -> Result<Sent, GraphError> {
        let (node, edge) = request.endpoint();
        let url = self.url(node, edge)?;
        let authorization = bearer(access_token)?;
        tracing::debug!(edge, "sending to the Graph API");
        let response = self
            .http
            .post(url)
            .header(AUTHORIZATION, authorization)
            .json(&request.body())
            .send()
            .await
            .map_err(|err| transport_error(&err))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = match response.bytes().await {
            Ok(body) => body,
            Err(err) if is_success(status) => {
                return Err(GraphError::Ambiguous {
                    message: format!(
                        "Meta answered HTTP {status} but its body could not be read: {}",
                        error_chain(&err)
                    ),
                });
            }
            Err(err) => {
                tracing::debug!(status, error = %error_chain(&err), "cannot read a Graph API error body");
                Default::default()
            }
        };
        classify(request.success_shape(), status, &headers, &body)
    }

    /// `{base_url}/{version}/{node}/{edge}`, each segment percent-encoded.
    fn url(&self, node: &str, edge: &str) -> Result<Url, GraphError> {
        if !is_usable_segment(&self.version) {
            return Err(local_error(
                PermanentKind::Other,
                "The Graph API version is not configured correctly.",
            ));
        }
        if !is_usable_segment(node) {
            return Err(local_error(
                PermanentKind::InvalidRequest,
                "The message has no valid Meta account, phone number or comment id to send to.",
            ));
        }
        let misconfigured = || {
            local_error(
                PermanentKind::Other,
                "The Graph API base URL is not configured correctly.",
            )
        };
        let mut url = Url::parse(&self.base_url).map_err(|_| misconfigured())?;
        url.path_segments_mut()
            .map_err(|()| misconfigured())?
            .pop_if_empty()
            .push(&self.version)
            .push(node)
            .push(edge);
        Ok(url)
    }
}

/// What to send; each variant maps to one endpoint and body.
#[derive(Debug, Clone, PartialEq)]
pub enum SendRequest {
    /// Instagram or Messenger Send API: `POST /{version}/{account_id}/messages`.
    Message {
        /// IG professional account id or Page id (the channel's external account id).
        account_id: String,
        /// Who receives it: a user (IGSID / PSID) or, for a private reply, a comment.
        recipient: Recipient,
        /// The text or attachment. An attachment's `caption` is not sent: the Send API has
        /// no caption field, so the caller sends the text as a separate message.
        content: Content,
        /// Inside the standard window or with the `HUMAN_AGENT` tag.
        messaging_type: MessagingType,
        /// Messenger echo correlation: sent inside `"message"` as `"metadata"` (only when Some).
        metadata: Option<String>,
        /// Quotes a message: `"reply_to":{"mid":..}` at top level (only when Some).
        reply_to_mid: Option<String>,
    },
    /// Public reply to an Instagram comment: `POST /{version}/{comment_id}/replies` with JSON body {"message": text}.
    CommentReply {
        /// The (top-level) comment being answered.
        comment_id: String,
        /// The reply's text.
        text: String,
    },
    /// WhatsApp Cloud API: `POST /{version}/{phone_number_id}/messages` with
    /// `{"messaging_product":"whatsapp","recipient_type":"individual","to":to, "type":"text","text":{"preview_url":false,"body":..}}`
    /// or `"type":"image|video|audio|document","<type>":{"link":url, "caption":optional text (not for audio)}`; plus `"context":{"message_id":..}` when replying.
    WhatsApp {
        /// The business phone number id sending the message.
        phone_number_id: String,
        /// The customer's phone number or WhatsApp id.
        to: String,
        /// The text or attachment.
        content: Content,
        /// The wamid being replied to, if any.
        context_message_id: Option<String>,
    },
}

impl SendRequest {
    /// The node id and edge of the endpoint this request is POSTed to.
    fn endpoint(&self) -> (&str, &'static str) {
        match self {
            Self::Message { account_id, .. } => (account_id, "messages"),
            Self::CommentReply { comment_id, .. } => (comment_id, "replies"),
            Self::WhatsApp {
                phone_number_id, ..
            } => (phone_number_id, "messages"),
        }
    }

    /// Where the id of the created message sits in a success body for this request.
    pub fn success_shape(&self) -> SuccessShape {
        match self {
            Self::Message { .. } => SuccessShape::SendApi,
            Self::CommentReply { .. } => SuccessShape::CommentReply,
            Self::WhatsApp { .. } => SuccessShape::WhatsApp,
        }
    }

    /// The JSON body POSTed for this request.
    fn body(&self) -> Value {
        match self {
            Self::Message {
                recipient,
                content,
                messaging_type,
                metadata,
                reply_to_mid,
                ..
            } => {
                let recipient = match recipient {
                    Recipient::Id(id) => json!({ "id": id }),
                    Recipient::CommentId(id) => json!({ "comment_id": id }),
                };
                let mut message = match content {
                    Content::Text(text) => json_object(json!({ "text": text })),
                    Content::Attachment { kind, url, .. } => json_object(json!({
                        "attachment": { "type": kind.send_api_type(), "payload": { "url": url } }
                    })),
                };
                if let Some(metadata) = metadata {
                    message.insert("metadata".to_owned(), json!(metadata));
                }
                let mut body = Map::new();
                body.insert("recipient".to_owned(), recipient);
                body.insert("message".to_owned(), Value::Object(message));
                match messaging_type {
                    MessagingType::Response => {
                        body.insert("messaging_type".to_owned(), json!("RESPONSE"));
                    }
                    MessagingType::HumanAgent => {
                        body.insert("messaging_type".to_owned(), json!("MESSAGE_TAG"));
                        body.insert("tag".to_owned(), json!("HUMAN_AGENT"));
                    }
                }
                if let Some(mid) = reply_to_mid {
                    body.insert("reply_to".to_owned(), json!({ "mid": mid }));
                }
                Value::Object(body)
            }
            Self::CommentReply { text, .. } => json!({ "message": text }),
            Self::WhatsApp {
                to,
                content,
                context_message_id,
                ..
            } => {
                let mut body = json_object(json!({
                    "messaging_product": "whatsapp",
                    "recipient_type": "individual",
                    "to": to,
                }));
                match content {
                    Content::Text(text) => {
                        body.insert("type".to_owned(), json!("text"));
                        body.insert(
                            "text".to_owned(),
                            json!({ "preview_url": false, "body": text }),
                        );
                    }
                    Content::Attachment { kind, url, caption } => {
                        let mut media = json_object(json!({ "link": url }));
                        if let Some(caption) = caption.as_ref().filter(|_| kind.has_caption()) {
                            media.insert("caption".to_owned(), json!(caption));
                        }
                        let kind = kind.whatsapp_type();
                        body.insert("type".to_owned(), json!(kind));
                        body.insert(kind.to_owned(), Value::Object(media));
                    }
                }
                if let Some(message_id) = context_message_id {
                    body.insert("context".to_owned(), json!({ "message_id": message_id }));
                }
                Value::Object(body)
            }
        }
    }
}

/// Who receives a Send API message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    /// An IGSID or PSID: `{"recipient":{"id":..}}`.
    Id(String),
    /// A comment id, for a private reply to its author: `{"recipient":{"comment_id":..}}`.
    CommentId(String),
}

/// The content of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// A media file Meta downloads from `url`.
    Attachment {
        /// The media type.
        kind: AttachmentKind,
        /// A public URL of the file.
        url: String,
        /// Text under the media; sent on WhatsApp only, and not for audio.
        caption: Option<String>,
    },
}

/// The type of an attachment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachmentKind {
    /// A picture.
    Image,
    /// A video.
    Video,
    /// An audio clip.
    Audio,
    /// Any other file: "file" on Instagram / Messenger, "document" on WhatsApp.
    File,
}

impl AttachmentKind {
    /// `attachment.type` on the Instagram / Messenger Send API.
    fn send_api_type(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Video => "video",
            Self::Audio => "audio",
            Self::File => "file",
        }
    }

    /// `type` (and the media object's key) on the WhatsApp Cloud API.
    fn whatsapp_type(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Video => "video",
            Self::Audio => "audio",
            Self::File => "document",
        }
    }

    /// Whether WhatsApp accepts a caption for this media type.
    fn has_caption(self) -> bool {
        !matches!(self, Self::Audio)
    }
}

/// How a Send API message relates to Meta's messaging window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessagingType {
    /// A reply inside the 24-hour window: `"messaging_type":"RESPONSE"`.
    Response,
    /// A human agent's reply up to 7 days later: `"messaging_type":"MESSAGE_TAG","tag":"HUMAN_AGENT"`.
    HumanAgent,
}

/// Where the created message's id sits in a 2xx body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuccessShape {
    /// Instagram / Messenger Send API: `{"recipient_id":..,"message_id":..}`.
    SendApi,
    /// Comment reply: `{"id":..}`.
    CommentReply,
    /// WhatsApp Cloud API: `{"messages":[{"id":..}],..}`.
    WhatsApp,
}

/// An accepted send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// Meta's id of the created message: Send API `message_id`, comment reply `id`,
    /// WhatsApp `messages[0].id` (a wamid).
    pub external_id: String,
}

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
    let error = parse_meta_error(body);
    if is_success(status) {
        return match error {
            Some(error) if error.code.is_some() => {
                Err(classify_meta_error(status, headers, &error))
            }
            _ => success(shape, status, body),
        };
    }
    Err(match error {
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

/// Classifies a failure to get any answer from Meta.
fn transport_error(err: &reqwest::Error) -> GraphError {
    let detail = error_chain(err);
    tracing::debug!(
        timeout = err.is_timeout(),
        connect = err.is_connect(),
        error = %detail,
        "Graph API request failed"
    );
    if err.is_builder() {
        return local_error(
            PermanentKind::Other,
            "The request to Meta could not be built.",
        );
    }
    if err.is_connect() {
        // The request never reached Meta: safe to retry.
        return GraphError::Transient {
            code: None,
            message: format!("{UNREACHABLE}: {detail}"),
            retry_after: None,
        };
    }
    // The request may have reached Meta (timeout or connection lost while waiting for
    // the answer): a blind retry could send the message twice.
    let message = if err.is_timeout() {
        format!("the request to Meta timed out: {detail}")
    } else {
        format!("the request to Meta failed: {detail}")
    };
    GraphError::Ambiguous { message }
}

/// An error and its sources, "outer: inner: innermost" (reqwest's own text is terse).
fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// `Bearer <token>` marked sensitive so it is never printed by `Debug`.
fn bearer(access_token: &str) -> Result<HeaderValue, GraphError> {
    let mut value = HeaderValue::from_str(&format!("Bearer {access_token}")).map_err(|_| {
        local_error(
            PermanentKind::TokenInvalid,
            "The channel's access token is malformed; an admin must reconnect the channel.",
        )
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// A permanent error for a request that never left this process.
fn local_error(kind: PermanentKind, reason: &str) -> GraphError {
    GraphError::Permanent {
        code: LOCAL_ERROR_CODE,
        subcode: None,
        kind,
        reason: reason.to_owned(),
    }
}

/// Whether `segment` can be a URL path segment as is (`.` and `..` would be dropped).
fn is_usable_segment(segment: &str) -> bool {
    !segment.trim().is_empty() && segment != "." && segment != ".."
}

/// Whether an HTTP status is 2xx.
fn is_success(status: u16) -> bool {
    (200..300).contains(&status)
}

/// A `json!({..})` literal as its map.
fn json_object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Scrubs the access token from any text Meta or the transport echoed back.
fn redact(err: GraphError, access_token: &str) -> GraphError {
    if access_token.len() < MIN_REDACTED_TOKEN_LEN {
        return err;
    }
    let scrub = |text: String| {
        if text.contains(access_token) {
            text.replace(access_token, "[redacted]")
        } else {
            text
        }
    };
    match err {
        GraphError::Transient {
            code,
            message,
            retry_after,
        } => GraphError::Transient {
            code,
            message: scrub(message),
            retry_after,
        },
        GraphError::Permanent {
            code,
            subcode,
            kind,
            reason,
        } => GraphError::Permanent {
            code,
            subcode,
            kind,
            reason: scrub(reason),
        },
        GraphError::Ambiguous { message } => GraphError::Ambiguous {
            message: scrub(message),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use wiremock::matchers::{body_json, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const TOKEN: &str = "EAAtestTOKEN0123456789abcdef";
    const VERSION: &str = "v25.0";

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/graph/",
                $name
            ))
        };
    }

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

    #[test]
    fn whatsapp_audio_drops_the_caption_and_file_is_a_document() {
        let audio = SendRequest::WhatsApp {
            phone_number_id: "1".to_owned(),
            to: "15550001111".to_owned(),
            content: Content::Attachment {
                kind: AttachmentKind::Audio,
                url: "https://cdn.example.test/a.ogg".to_owned(),
                caption: Some("listen".to_owned()),
            },
            context_message_id: None,
        };
        assert_eq!(
            audio.body(),
            json!({
                "messaging_product": "whatsapp", "recipient_type": "individual", "to": "15550001111",
                "type": "audio", "audio": { "link": "https://cdn.example.test/a.ogg" }
            })
        );
        let file = SendRequest::WhatsApp {
            phone_number_id: "1".to_owned(),
            to: "15550001111".to_owned(),
            content: Content::Attachment {
                kind: AttachmentKind::File,
                url: "https://cdn.example.test/invoice.pdf".to_owned(),
                caption: None,
            },
            context_message_id: None,
        };
        assert_eq!(
            file.body(),
            json!({
                "messaging_product": "whatsapp", "recipient_type": "individual", "to": "15550001111",
                "type": "document", "document": { "link": "https://cdn.example.test/invoice.pdf" }
            })
        );
    }

    #[test]
    fn send_api_attachment_ignores_the_caption() {
        let request = SendRequest::Message {
            account_id: "1".to_owned(),
            recipient: Recipient::Id("2".to_owned()),
            content: Content::Attachment {
                kind: AttachmentKind::Video,
                url: "https://cdn.example.test/v.mp4".to_owned(),
                caption: Some("look".to_owned()),
            },
            messaging_type: MessagingType::Response,
            metadata: None,
            reply_to_mid: None,
        };
        assert_eq!(
            request.body(),
            json!({
                "recipient": { "id": "2" },
                "messaging_type": "RESPONSE",
                "message": { "attachment": { "type": "video", "payload": { "url": "https://cdn.example.test/v.mp4" } } }
            })
        );
    }

    #[test]
    fn errors_never_display_the_access_token() {
        let err = GraphError::Permanent {
            code: 190,
            subcode: None,
            kind: PermanentKind::TokenInvalid,
            reason: format!("Malformed access token {TOKEN}"),
        };
        let redacted = redact(err, TOKEN);
        assert!(!redacted.to_string().contains(TOKEN));
        assert!(!format!("{redacted:?}").contains(TOKEN));
        assert!(redacted.to_string().contains("[redacted]"));
    }

    // ---- HTTP round trips -------------------------------------------------------------

    fn text_dm(messaging_type: MessagingType, metadata: Option<&str>) -> SendRequest {
        SendRequest::Message {
            account_id: "17841400000000001".to_owned(),
            recipient: Recipient::Id("6620418835190047".to_owned()),
            content: Content::Text("Your order shipped today.".to_owned()),
            messaging_type,
            metadata: metadata.map(str::to_owned),
            reply_to_mid: None,
        }
    }

    async fn mount(server: &MockServer, route: &str, body: Value, response: ResponseTemplate) {
        Mock::given(method("POST"))
            .and(path(route))
            .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
            .and(header("content-type", "application/json"))
            .and(body_json(body))
            .respond_with(response)
            .expect(1)
            .mount(server)
            .await;
    }

    fn ok_json(body: &str) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_raw(body.as_bytes().to_vec(), "application/json")
    }

    fn json_status(status: u16, body: &str) -> ResponseTemplate {
        ResponseTemplate::new(status).set_body_raw(body.as_bytes().to_vec(), "application/json")
    }

    #[tokio::test]
    async fn instagram_text_dm_posts_response_type_to_account_messages() {
        let server = MockServer::start().await;
        mount(
            &server,
            "/v25.0/17841400000000001/messages",
            json!({
                "recipient": { "id": "6620418835190047" },
                "messaging_type": "RESPONSE",
                "message": { "text": "Your order shipped today." }
            }),
            ok_json(fixture!("send_api_success_instagram.json")),
        )
        .await;
        let client = GraphClient::new(&server.uri(), VERSION);
        let sent = client
            .send(TOKEN, &text_dm(MessagingType::Response, None))
            .await
            .unwrap();
        assert!(
            sent.external_id
                .starts_with("aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3")
        );
    }

    #[tokio::test]
    async fn messenger_human_agent_dm_sends_tag_metadata_and_reply_to() {
        let server = MockServer::start().await;
        mount(
            &server,
            "/v25.0/104882255559021/messages",
            json!({
                "recipient": { "id": "5081726354491827" },
                "messaging_type": "MESSAGE_TAG",
                "tag": "HUMAN_AGENT",
                "message": { "text": "Sorry for the wait!", "metadata": "outbound:7f1c" },
                "reply_to": { "mid": "m_original42" }
            }),
            ok_json(fixture!("send_api_success_messenger.json")),
        )
        .await;
        let request = SendRequest::Message {
            account_id: "104882255559021".to_owned(),
            recipient: Recipient::Id("5081726354491827".to_owned()),
            content: Content::Text("Sorry for the wait!".to_owned()),
            messaging_type: MessagingType::HumanAgent,
            metadata: Some("outbound:7f1c".to_owned()),
            reply_to_mid: Some("m_original42".to_owned()),
        };
        let sent = GraphClient::new(&server.uri(), VERSION)
            .send(TOKEN, &request)
            .await
            .unwrap();
        assert_eq!(
            sent.external_id,
            "m_Qz8pLr4Ua1xVt9KdN2wYcE6hJbS0fGmT7iOvX3kRyAuPq5ZlWnD-8sHeCj4MgBo1FtV6rIxKa9YdLw2QzNpE7u"
        );
    }

    #[tokio::test]
    async fn attachment_dm_sends_type_and_payload_url() {
        let server = MockServer::start().await;
        mount(
            &server,
            "/v25.0/17841400000000001/messages",
            json!({
                "recipient": { "id": "6620418835190047" },
                "messaging_type": "RESPONSE",
                "message": { "attachment": { "type": "file", "payload": { "url": "https://cdn.example.test/manual.pdf" } } }
            }),
            ok_json(r#"{"recipient_id":"6620418835190047","message_id":"aWdfattachment01"}"#),
        )
        .await;
        let request = SendRequest::Message {
            account_id: "17841400000000001".to_owned(),
            recipient: Recipient::Id("6620418835190047".to_owned()),
            content: Content::Attachment {
                kind: AttachmentKind::File,
                url: "https://cdn.example.test/manual.pdf".to_owned(),
                caption: None,
            },
            messaging_type: MessagingType::Response,
            metadata: None,
            reply_to_mid: None,
        };
        let sent = GraphClient::new(&server.uri(), VERSION)
            .send(TOKEN, &request)
            .await
            .unwrap();
        assert_eq!(sent.external_id, "aWdfattachment01");
    }

    #[tokio::test]
    async fn private_reply_addresses_the_comment_id() {
        let server = MockServer::start().await;
        mount(
            &server,
            "/v25.0/17841400000000001/messages",
            json!({
                "recipient": { "comment_id": "17999120458336000" },
                "messaging_type": "RESPONSE",
                "message": { "text": "We sent you the details by DM." }
            }),
            ok_json(r#"{"recipient_id":"6620418835190047","message_id":"aWdfprivate01"}"#),
        )
        .await;
        let request = SendRequest::Message {
            account_id: "17841400000000001".to_owned(),
            recipient: Recipient::CommentId("17999120458336000".to_owned()),
            content: Content::Text("We sent you the details by DM.".to_owned()),
            messaging_type: MessagingType::Response,
            metadata: None,
            reply_to_mid: None,
        };
        let sent = GraphClient::new(&server.uri(), VERSION)
            .send(TOKEN, &request)
            .await
            .unwrap();
        assert_eq!(sent.external_id, "aWdfprivate01");
    }

    #[tokio::test]
    async fn public_comment_reply_posts_message_to_comment_replies() {
        let server = MockServer::start().await;
        mount(
            &server,
            "/v25.0/17999120458336000/replies",
            json!({ "message": "Thanks! Check your DMs." }),
            ok_json(fixture!("comment_reply_success.json")),
        )
        .await;
        let request = SendRequest::CommentReply {
            comment_id: "17999120458336000".to_owned(),
            text: "Thanks! Check your DMs.".to_owned(),
        };
        let sent = GraphClient::new(&server.uri(), VERSION)
            .send(TOKEN, &request)
            .await
            .unwrap();
        assert_eq!(sent.external_id, "17999120458336021");
    }

    #[tokio::test]
    async fn whatsapp_text_posts_cloud_api_body() {
        let server = MockServer::start().await;
        mount(
            &server,
            "/v25.0/110200300400500/messages",
            json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": "15550104477",
                "type": "text",
                "text": { "preview_url": false, "body": "Hi! How can we help?" }
            }),
            ok_json(fixture!("whatsapp_send_success.json")),
        )
        .await;
        let request = SendRequest::WhatsApp {
            phone_number_id: "110200300400500".to_owned(),
            to: "15550104477".to_owned(),
            content: Content::Text("Hi! How can we help?".to_owned()),
            context_message_id: None,
        };
        let sent = GraphClient::new(&server.uri(), VERSION)
            .send(TOKEN, &request)
            .await
            .unwrap();
        assert_eq!(
            sent.external_id,
            "wamid.HBgLMTU1NTAxMDQ0NzcVAgARGBI4QTdCM0M5RDJFMUYwNDY1QjgA"
        );
    }

    #[tokio::test]
    async fn whatsapp_image_sends_link_caption_and_context() {
        let server = MockServer::start().await;
        mount(
            &server,
            "/v25.0/110200300400500/messages",
            json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": "15550104477",
                "type": "image",
                "image": { "link": "https://cdn.example.test/receipt.jpg", "caption": "Your receipt" },
                "context": { "message_id": "wamid.inbound0001" }
            }),
            ok_json(fixture!("whatsapp_send_success.json")),
        )
        .await;
        let request = SendRequest::WhatsApp {
            phone_number_id: "110200300400500".to_owned(),
            to: "15550104477".to_owned(),
            content: Content::Attachment {
                kind: AttachmentKind::Image,
                url: "https://cdn.example.test/receipt.jpg".to_owned(),
                caption: Some("Your receipt".to_owned()),
            },
            context_message_id: Some("wamid.inbound0001".to_owned()),
        };
        let sent = GraphClient::new(&server.uri(), VERSION)
            .send(TOKEN, &request)
            .await
            .unwrap();
        assert_eq!(
            sent.external_id,
            "wamid.HBgLMTU1NTAxMDQ0NzcVAgARGBI4QTdCM0M5RDJFMUYwNDY1QjgA"
        );
    }

    #[tokio::test]
    async fn http_500_from_meta_is_transient_through_send() {
        let server = MockServer::start().await;
        mount(
            &server,
            "/v25.0/17841400000000001/messages",
            text_dm(MessagingType::Response, None).body(),
            json_status(500, fixture!("error_service_unavailable.json"))
                .insert_header("retry-after", "12"),
        )
        .await;
        let err = GraphClient::new(&server.uri(), VERSION)
            .send(TOKEN, &text_dm(MessagingType::Response, None))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            GraphError::Transient {
                code: Some(2),
                message: "An unexpected error has occurred. Please retry your request later."
                    .to_owned(),
                retry_after: Some(Duration::from_secs(12)),
            }
        );
    }

    #[tokio::test]
    async fn expired_token_is_permanent_through_send() {
        let server = MockServer::start().await;
        mount(
            &server,
            "/v25.0/17841400000000001/messages",
            text_dm(MessagingType::Response, None).body(),
            json_status(401, fixture!("error_token_expired.json")),
        )
        .await;
        let err = GraphClient::new(&server.uri(), VERSION)
            .send(TOKEN, &text_dm(MessagingType::Response, None))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                GraphError::Permanent {
                    code: 190,
                    subcode: Some(463),
                    kind: PermanentKind::TokenInvalid,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn token_echoed_by_meta_is_redacted_from_the_error() {
        let server = MockServer::start().await;
        let body = json!({"error": {"message": format!("Invalid OAuth access token - Cannot parse access token {TOKEN}"), "type": "OAuthException", "code": 190}});
        mount(
            &server,
            "/v25.0/17841400000000001/messages",
            text_dm(MessagingType::Response, None).body(),
            json_status(400, &body.to_string()),
        )
        .await;
        let err = GraphClient::new(&server.uri(), VERSION)
            .send(TOKEN, &text_dm(MessagingType::Response, None))
            .await
            .unwrap_err();
        assert!(!format!("{err} {err:?}").contains(TOKEN));
    }

    #[tokio::test]
    async fn a_timeout_after_sending_is_ambiguous_not_retryable() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(
                ok_json(fixture!("send_api_success_instagram.json"))
                    .set_delay(Duration::from_secs(2)),
            )
            .mount(&server)
            .await;
        let client = GraphClient::with_timeouts(
            &server.uri(),
            VERSION,
            Duration::from_secs(1),
            Duration::from_millis(200),
        );
        let err = client
            .send(TOKEN, &text_dm(MessagingType::Response, None))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, GraphError::Ambiguous { message } if message.contains("timed out")),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn refused_connection_is_transient() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        let client = GraphClient::new(&format!("http://{address}"), VERSION);
        let err = client
            .send(TOKEN, &text_dm(MessagingType::Response, None))
            .await
            .unwrap_err();
        assert!(
            matches!(err, GraphError::Transient { code: None, .. }),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn dot_segment_or_empty_ids_are_refused_before_any_request() {
        let client = GraphClient::new("http://127.0.0.1:9", VERSION);
        for account_id in ["", "..", "."] {
            let request = SendRequest::Message {
                account_id: account_id.to_owned(),
                recipient: Recipient::Id("1".to_owned()),
                content: Content::Text("hi".to_owned()),
                messaging_type: MessagingType::Response,
                metadata: None,
                reply_to_mid: None,
            };
            let err = client.send(TOKEN, &request).await.unwrap_err();
            assert!(
                matches!(
                    err,
                    GraphError::Permanent {
                        code: LOCAL_ERROR_CODE,
                        kind: PermanentKind::InvalidRequest,
                        ..
                    }
                ),
                "{account_id:?}: {err:?}"
            );
        }
    }

    #[test]
    fn ids_are_percent_encoded_into_one_path_segment() {
        let client = GraphClient::new("https://graph.example.test/", VERSION);
        let url = client.url("12/../me?x=1", "messages").unwrap();
        assert_eq!(
            url.as_str(),
            "https://graph.example.test/v25.0/12%2F..%2Fme%3Fx=1/messages"
        );
    }

    #[tokio::test]
    async fn token_that_cannot_be_a_header_is_refused_locally() {
        let client = GraphClient::new("http://127.0.0.1:9", VERSION);
        let err = client
            .send("EAAbad\ntoken", &text_dm(MessagingType::Response, None))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            GraphError::Permanent {
                code: LOCAL_ERROR_CODE,
                subcode: None,
                kind: PermanentKind::TokenInvalid,
                reason: "The channel's access token is malformed; an admin must reconnect the \
                         channel."
                    .to_owned(),
            }
        );
    }
}
