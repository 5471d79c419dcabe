//! The Graph API reads that prove a channel's token is its account's, faked in Meta's
//! shapes: the token `EAAG-token-of-{account}` (what [`super::TestApp::create_channel`]
//! sends) belongs to `{account}`; any other token is refused with code 190.

use serde_json::json;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Prefix of the tokens this fake knows the owner of.
pub const TOKEN_PREFIX: &str = "EAAG-token-of-";

/// Answers `GET /{version}/me` and `GET /{version}/{node}` for the token's account.
struct Ownership;

impl Respond for Ownership {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let account = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .and_then(|token| token.strip_prefix(TOKEN_PREFIX));
        let node = request.url.path_segments().and_then(|mut s| s.nth(1));
        let fields = request
            .url
            .query_pairs()
            .find(|(k, _)| k == "fields")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        match (account, node) {
            (None, _) => ResponseTemplate::new(400).set_body_json(json!({"error": {
                "message": "Invalid OAuth access token - Cannot parse access token",
                "type": "OAuthException", "code": 190, "fbtrace_id": "Afake"}})),
            (Some(account), Some("me")) if fields.contains("instagram_business_account") => {
                ResponseTemplate::new(200).set_body_json(json!({
                    "instagram_business_account": {"id": account}, "id": "page-of-it"}))
            }
            (Some(account), Some("me")) => ResponseTemplate::new(200)
                .set_body_json(json!({"id": account, "user_id": account})),
            (Some(account), Some(node)) if node == account => {
                ResponseTemplate::new(200).set_body_json(json!({"id": node}))
            }
            (Some(_), node) => ResponseTemplate::new(400).set_body_json(json!({"error": {
                "message": format!("Unsupported get request. Object with ID '{}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.", node.unwrap_or_default()),
                "type": "GraphMethodException", "code": 100, "error_subcode": 33, "fbtrace_id": "Afake"}})),
        }
    }
}

/// Mounts the ownership reads on `server`: every GET that no other mock of the test
/// answers (they have the lowest priority).
pub async fn mount_ownership(server: &MockServer) {
    Mock::given(method("GET"))
        .respond_with(Ownership)
        .with_priority(u8::MAX)
        .mount(server)
        .await;
}

/// A fake Graph API that answers only the ownership reads.
pub async fn start() -> MockServer {
    let server = MockServer::start().await;
    mount_ownership(&server).await;
    server
}
