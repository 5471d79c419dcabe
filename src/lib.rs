//! DelightChat: a multi-tenant omnichannel customer-support inbox backend.
//!
//! Meta webhooks (Instagram, Messenger, WhatsApp) become customers, tickets and messages
//! in PostgreSQL; agents work them through a GraphQL API with live subscriptions; replies
//! go back out through the Meta Graph API. See `README.md` for the tour.

pub mod auth;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod db;
pub mod error;
pub mod events;
pub mod graphql;
pub mod inbox;
pub mod jobs;
pub mod metrics;
pub mod observability;
pub mod outbound;
pub mod simulate;
pub mod state;
pub mod webhooks;

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderName, Request, StatusCode};
use axum::routing::get;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::graphql::http::GraphqlState;
use crate::state::AppState;

/// Longest any HTTP request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The HTTP application: `/graphql`, `/webhook/*`, `/healthz`, `/readyz`.
pub fn router(state: AppState) -> Router {
    let graphql_state = GraphqlState {
        schema: graphql::build(&state),
        app: state.clone(),
    };
    let graphql_routes = Router::new()
        .route(
            "/graphql",
            get(graphql::http::get).post(graphql::http::post),
        )
        .layer(DefaultBodyLimit::max(graphql::http::MAX_BODY_BYTES))
        .with_state(graphql_state);
    let webhook_routes = Router::new()
        .route(
            "/webhook",
            get(webhooks::routes::verify_app).post(webhooks::routes::receive_app),
        )
        .route(
            "/webhook/{channel_id}",
            get(webhooks::routes::verify_channel).post(webhooks::routes::receive_channel),
        )
        .layer(DefaultBodyLimit::max(webhooks::routes::MAX_BODY_BYTES))
        .with_state(state.clone());
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(state)
        .merge(graphql_routes)
        .merge(webhook_routes)
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            let id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
            tracing::info_span!("http", method = %request.method(), path = %request.uri().path(), request_id = %id)
        }))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

/// `GET /readyz`: 200 when the database answers, 503 otherwise or while shutting down.
async fn readyz(State(state): State<AppState>) -> StatusCode {
    use diesel_async::SimpleAsyncConnection as _;
    if state.is_shutting_down() {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let ready = match state.conn().await {
        Ok(mut conn) => conn.batch_execute("SELECT 1").await.is_ok(),
        Err(_) => false,
    };
    if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}
