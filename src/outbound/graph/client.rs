//! The HTTP transport: one POST per send, with timeouts, no redirects, the token only in
//! the `Authorization` header and scrubbed from every error text.

use std::error::Error as StdError;
use std::time::Duration;

use reqwest::Url;
use reqwest::header::{AUTHORIZATION, HeaderValue};

use serde_json::Value;

use super::errors::{
    GraphError, PermanentKind, UNREACHABLE, classify, classify_read, is_success, local_error,
};
use super::request::{SendRequest, Sent};

/// How long establishing a connection to Meta may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a whole request to Meta (connect, send, response body) may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Tokens shorter than this are not scrubbed from error texts (they would mangle them).
const MIN_REDACTED_TOKEN_LEN: usize = 8;

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
        let url = self.url(node, Some(edge))?;
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

    /// Performs one GET of `/{version}/{node}[/{edge}]` with `query` and returns the JSON
    /// answer; never retries by itself. Any failure to get an answer is transient (a
    /// read changes nothing at Meta).
    pub async fn get(
        &self,
        access_token: &str,
        node: &str,
        edge: Option<&str>,
        query: &[(&str, &str)],
    ) -> Result<Value, GraphError> {
        self.get_inner(access_token, node, edge, query)
            .await
            .map_err(|err| redact(err, access_token))
    }

    async fn get_inner(
        &self,
        access_token: &str,
        node: &str,
        edge: Option<&str>,
        query: &[(&str, &str)],
    ) -> Result<Value, GraphError> {
        let mut url = self.url(node, edge)?;
        url.query_pairs_mut().extend_pairs(query);
        let authorization = bearer(access_token)?;
        tracing::debug!(edge, "reading from the Graph API");
        let response = self
            .http
            .get(url)
            .header(AUTHORIZATION, authorization)
            .send()
            .await
            .map_err(|err| match transport_error(&err) {
                GraphError::Ambiguous { message } => GraphError::Transient {
                    code: None,
                    message,
                    retry_after: None,
                },
                other => other,
            })?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|err| GraphError::Transient {
                code: None,
                message: format!(
                    "Meta's answer (HTTP {status}) could not be read: {}",
                    error_chain(&err)
                ),
                retry_after: None,
            })?;
        classify_read(status, &headers, &body)
    }

    /// Uploads a file to WhatsApp (`POST /{phone-number-id}/media`, multipart with
    /// `messaging_product`, `type` and `file`); Meta's media id, or why not (without the
    /// token). Sends then refer to the file by that id.
    pub async fn upload_whatsapp_media(
        &self,
        access_token: &str,
        phone_number_id: &str,
        content_type: &str,
        bytes: bytes::Bytes,
    ) -> Result<String, String> {
        let url = self
            .url(phone_number_id, Some("media"))
            .map_err(|e| e.to_string())?;
        let authorization = bearer(access_token).map_err(|e| e.to_string())?;
        let boundary = format!("delightchat-{}", uuid::Uuid::new_v4().simple());
        let mut body = Vec::with_capacity(bytes.len() + 512);
        for (name, value) in [("messaging_product", "whatsapp"), ("type", content_type)] {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                )
                .as_bytes(),
            );
        }
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"file\"\r\nContent-Type: {content_type}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(&bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let response = self
            .http
            .post(url)
            .header(AUTHORIZATION, authorization)
            .header(
                reqwest::header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .map_err(|e| {
                format!("WhatsApp media upload failed: {}", error_chain(&e))
                    .replace(access_token, "[redacted]")
            })?;
        let status = response.status();
        let answer: serde_json::Value = response.json().await.unwrap_or_default();
        match answer.get("id").and_then(serde_json::Value::as_str) {
            Some(id) if status.is_success() => Ok(id.to_owned()),
            _ => Err(format!(
                "WhatsApp refused the media upload (HTTP {}): {}",
                status.as_u16(),
                answer["error"]["message"].as_str().unwrap_or("no message")
            )),
        }
    }

    /// `{base_url}/{version}/{node}[/{edge}]`, each segment percent-encoded.
    fn url(&self, node: &str, edge: Option<&str>) -> Result<Url, GraphError> {
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
            .extend(edge);
        Ok(url)
    }
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

/// Whether `segment` can be a URL path segment as is (`.` and `..` would be dropped).
fn is_usable_segment(segment: &str) -> bool {
    !segment.trim().is_empty() && segment != "." && segment != ".."
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

    use crate::db::enums::AttachmentType;
    use serde_json::{Value, json};
    use wiremock::matchers::{body_json, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use crate::outbound::graph::{Content, LOCAL_ERROR_CODE, MessagingType, Recipient};

    const TOKEN: &str = "EAAtestTOKEN0123456789abcdef";
    const VERSION: &str = "v25.0";

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
                kind: AttachmentType::File,
                url: "https://cdn.example.test/manual.pdf".to_owned(),
                caption: None,
                media_id: None,
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
                kind: AttachmentType::Image,
                url: "https://cdn.example.test/receipt.jpg".to_owned(),
                caption: Some("Your receipt".to_owned()),
                media_id: None,
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
        let url = client.url("12/../me?x=1", Some("messages")).unwrap();
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
