//! The fake Graph API's endpoints, answering in the shapes of the shared Meta reference
//! (§8 outbound endpoints, §10 errors). Each send schedules its [`super::feedback`].
//!
//! | request | answer |
//! |---|---|
//! | `POST /{version}/{account-id}/messages` (Instagram, Messenger) | `{"recipient_id", "message_id"}` |
//! | `POST /{version}/{phone-number-id}/messages` (WhatsApp) | `{"messaging_product", "contacts", "messages": [{"id"}]}` |
//! | `POST /{version}/{comment-id}/replies` | `{"id"}` |
//! | `GET /{version}/{IGSID}?fields=name,username,..` (Instagram User Profile API) | `{"name", "username", "profile_pic", "is_verified_user", "follower_count", "id"}` |
//! | `GET /{version}/{PSID}?fields=first_name,..` (Messenger User Profile API) | `{"first_name", "last_name", "profile_pic", "id"}` |
//! | `GET /{version}/{waba-id}/message_templates` | `{"data": [two approved templates], "paging": {"cursors"}}` |
//! | `GET /{version}/{media-id}` (WhatsApp media URL) | `{"url", "mime_type", "sha256", "file_size", "id", "messaging_product"}` |
//! | `GET /whatsapp_business/attachments/?mid=..` (with the bearer token), `GET /ig_messaging_cdn/?..` | the sample image ([`super::media`]) |
//! | anything else | 400 with Meta's error shape, code 100 |

use crate::db::enums::Platform;
use axum::Router;
use axum::extract::Query;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::feedback::{self, Sent};
use super::media;
use crate::db::channels;
use crate::state::AppState;

/// What the fake's handlers share.
#[derive(Clone)]
pub struct SandboxState {
    /// The application (to find the channel a send came from).
    pub app: AppState,
    /// Base URL of this server, where receipts are delivered.
    pub webhook_base: String,
    /// Client of those deliveries.
    pub http: reqwest::Client,
    /// Base URL of the sandbox itself (its media downloads).
    pub url: String,
}

/// The fake's routes: add new fake endpoints here.
pub fn routes(state: SandboxState) -> Router {
    Router::new()
        .route("/{version}/{node}/{edge}", post(post_edge).get(get_edge))
        .route("/{version}/{node}", get(get_node))
        .route(media::WHATSAPP_DOWNLOAD, get(media::whatsapp_download))
        .route(media::CDN_PATH, get(media::cdn))
        .fallback(unsupported)
        .with_state(state)
}

async fn post_edge(
    State(sandbox): State<SandboxState>,
    Path((_, node, edge)): Path<(String, String, String)>,
    body: axum::Json<Value>,
) -> Response {
    let body = body.0;
    match edge.as_str() {
        "replies" => {
            let id = format!("{node}_sandbox_{}", uuid::Uuid::new_v4().simple());
            axum::Json(json!({"id": id})).into_response()
        }
        "messages" if body.get("messaging_product").is_some() => {
            whatsapp(sandbox, node, body).await
        }
        "messages" => messaging(sandbox, node, body).await,
        _ => unsupported().await,
    }
}

/// The User Profile APIs (a made-up but stable person per scoped id) and, without
/// `fields`, the WhatsApp media URL of a media id.
async fn get_node(
    State(sandbox): State<SandboxState>,
    Path((_, node)): Path<(String, String)>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let Some(fields) = query.get("fields").map(String::as_str) else {
        return media::media_url(&sandbox.url, &node);
    };
    let suffix: String = node
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let picture = format!("https://sandbox.invalid/profile/{node}.jpg");
    if fields.contains("first_name") {
        return axum::Json(json!({
            "first_name": "Sandbox", "last_name": format!("Customer {suffix}"),
            "profile_pic": picture, "id": node,
        }))
        .into_response();
    }
    if fields.contains("username") {
        return axum::Json(json!({
            "name": format!("Sandbox Customer {suffix}"), "username": format!("sandbox.customer{suffix}"),
            "profile_pic": picture, "is_verified_user": false, "follower_count": 42, "id": node,
        }))
        .into_response();
    }
    unsupported().await
}

/// WhatsApp message templates: two approved ones, on one page.
async fn get_edge(Path((_, node, edge)): Path<(String, String, String)>) -> Response {
    if edge != "message_templates" {
        return unsupported().await;
    }
    axum::Json(json!({
        "data": [
            {"name": "hello_world", "language": "en_US", "status": "APPROVED", "category": "UTILITY",
             "id": format!("{node}01"), "components": [
                {"type": "BODY", "text": "Welcome and congratulations!! This message comes from the sandbox."}]},
            {"name": "follow_up", "language": "en_US", "status": "APPROVED", "category": "UTILITY",
             "id": format!("{node}02"), "components": [
                {"type": "BODY", "text": "Hi {{1}}, we are following up on your request {{2}}.",
                 "example": {"body_text": [["Ada", "#1042"]]}},
                {"type": "FOOTER", "text": "Reply STOP to opt out"}]}
        ],
        "paging": {"cursors": {"before": "QVFIUmxz", "after": "QVFIUmxz"}}
    }))
    .into_response()
}

/// Instagram and Messenger Send API.
async fn messaging(sandbox: SandboxState, account: String, body: Value) -> Response {
    let Some(recipient) = body["recipient"]["id"]
        .as_str()
        .or(body["recipient"]["comment_id"].as_str())
        .map(str::to_owned)
    else {
        return meta_error("(#100) The parameter recipient is required");
    };
    let message_id = format!("m_sandbox_{}", uuid::Uuid::new_v4().simple());
    let Some(channel) = channel(
        &sandbox.app,
        &[Platform::Instagram, Platform::Messenger],
        &account,
    )
    .await
    else {
        return meta_error("(#100) No matching user found");
    };
    let sent = Sent {
        channel,
        customer: recipient.clone(),
        message_id: message_id.clone(),
        text: body["message"]["text"].as_str().map(str::to_owned),
        metadata: body["message"]["metadata"].as_str().map(str::to_owned),
    };
    feedback::schedule(sandbox, sent);
    axum::Json(json!({"recipient_id": recipient, "message_id": message_id})).into_response()
}

/// WhatsApp Cloud API.
async fn whatsapp(sandbox: SandboxState, phone_number_id: String, body: Value) -> Response {
    let Some(to) = body["to"].as_str().map(str::to_owned) else {
        return meta_error("(#100) The parameter to is required.");
    };
    let Some(channel) = channel(&sandbox.app, &[Platform::WhatsApp], &phone_number_id).await else {
        return meta_error("(#100) Invalid parameter");
    };
    let wamid = format!("wamid.SANDBOX{}", uuid::Uuid::new_v4().simple());
    feedback::schedule(
        sandbox,
        Sent {
            channel,
            customer: to.clone(),
            message_id: wamid.clone(),
            text: None,
            metadata: None,
        },
    );
    axum::Json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{"input": to, "wa_id": to}],
        "messages": [{"id": wamid, "message_status": "accepted"}],
    }))
    .into_response()
}

/// The live channel of `platforms` with this account id.
async fn channel(
    app: &AppState,
    platforms: &[Platform],
    account: &str,
) -> Option<channels::Channel> {
    let mut conn = app.system_conn().await.ok()?;
    for platform in platforms {
        let found = channels::find_by_accounts(&mut conn, *platform, &[account.to_owned()])
            .await
            .ok()?;
        if let Some(channel) = found.into_iter().next() {
            return Some(channel);
        }
    }
    None
}

async fn unsupported() -> Response {
    meta_error("Unsupported post request. The sandbox does not fake this endpoint.")
}

/// Meta's error shape (§10.1), code 100 (invalid parameter).
fn meta_error(message: &str) -> Response {
    let body = json!({"error": {"message": message, "type": "OAuthException", "code": 100,
        "fbtrace_id": format!("sandbox{}", uuid::Uuid::new_v4().simple())}});
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}
