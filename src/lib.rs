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
pub mod dev_keys;
pub mod error;
pub mod events;
pub mod graphql;
pub mod http_server;
pub mod inbox;
pub mod jobs;
pub mod media;
pub mod metrics;
pub mod observability;
pub mod open_limit;
pub mod ops;
pub mod outbound;
pub mod presence;
pub mod sandbox;
pub mod simulate;
pub mod state;
pub mod webhooks;
pub mod workers;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Request, StatusCode, header};
use axum::routing::get;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::graphql::http::GraphqlState;
use crate::state::AppState;

/// The memory allocator of every binary linking this crate: mimalloc, which spent less
/// CPU than the system allocator on the server's many small, short-lived allocations
/// (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Longest any HTTP request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The HTTP application: `/graphql`, `/webhook/*`, `/media/*`, `/healthz`, `/readyz`, `/metrics`.
pub fn router(state: AppState) -> Router {
    let graphql_state = GraphqlState {
        schema: graphql::build(&state),
        app: state.clone(),
        persisted: graphql::persisted::PersistedQueries::default(),
    };
    let graphql_routes = Router::new()
        .route(
            "/graphql",
            get(graphql::http::get).post(graphql::http::post),
        )
        // No `DefaultBodyLimit`: the handler bounds each content type itself (JSON at
        // 256 KiB, multipart uploads at the upload cap).
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
    let media_routes = Router::new()
        .route("/media", axum::routing::post(media::routes::upload))
        .layer(DefaultBodyLimit::max(state.config().media_upload_max_bytes))
        .with_state(state.clone());
    let request_id = HeaderName::from_static("x-request-id");
    let metrics_state = state.clone();
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/media/{id}", get(media::routes::get))
        .route(graphql::graphiql::ASSET_ROUTE, get(graphql::graphiql::asset))
        .with_state(state)
        .merge(graphql_routes)
        .merge(webhook_routes)
        .merge(media_routes)
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT))
        .layer(axum::middleware::from_fn_with_state(metrics_state, ops::record_latency))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            let id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
            tracing::info_span!("http", method = %request.method(), path = %request.uri().path(), request_id = %id)
        }))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}
